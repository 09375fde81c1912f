#include "clippo/train/loss.h"

#include "clippo/train/dist.h"

namespace clippo::train {

namespace {

struct AllGatherGrad : public torch::autograd::Function<AllGatherGrad> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x, Dist* dist) {
    ctx->saved_data["rows"] = x.size(0);
    ctx->saved_data["dist"] = reinterpret_cast<int64_t>(dist);
    return dist->all_gather(x);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto* dist = reinterpret_cast<Dist*>(ctx->saved_data["dist"].toInt());
    int64_t rows = ctx->saved_data["rows"].toInt();
    torch::Tensor g = grads[0].contiguous().clone();
    dist->all_reduce_sum(g);
    int64_t start = rows * dist->rank();
    return {g.slice(0, start, start + rows), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor all_gather_with_grad(const torch::Tensor& x, Dist* dist) {
  if (!dist || dist->world() == 1) return x;
  return AllGatherGrad::apply(x, dist);
}

torch::Tensor contrastive_loss(const torch::Tensor& za, const torch::Tensor& zb, const torch::Tensor& t, Dist* dist) {
  const int64_t b = za.size(0);
  const int world = dist ? dist->world() : 1, rank = dist ? dist->rank() : 0;
  const int64_t n = b * world;
  torch::Tensor za_all = all_gather_with_grad(za, dist);
  torch::Tensor zb_all = all_gather_with_grad(zb, dist);
  torch::Tensor scale = t.reshape({}).exp();
  // This rank's rows in both directions; the matching column is its global index.
  torch::Tensor labels = torch::arange(rank * b, rank * b + b, torch::TensorOptions().dtype(torch::kLong).device(za.device()));
  torch::Tensor logits_ab = scale * torch::matmul(za, zb_all.t());
  torch::Tensor logits_ba = scale * torch::matmul(zb, za_all.t());
  namespace F = torch::nn::functional;
  auto sum = F::CrossEntropyFuncOptions().reduction(torch::kSum);
  return (F::cross_entropy(logits_ab.to(torch::kFloat32), labels, sum) +
          F::cross_entropy(logits_ba.to(torch::kFloat32), labels, sum)) /
         static_cast<double>(2 * n);
}

}  // namespace clippo::train
