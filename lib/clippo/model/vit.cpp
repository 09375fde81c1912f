#include "clippo/model/vit.h"

#include <fmt/core.h>
#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (fmt >= 11 keeps it here)

#include <cmath>

#include "clippo/cli/error.h"
#include "clippo/io/json.h"
#include "clippo/model/autocast.h"
#include "clippo/model/gelu.h"
#include "clippo/model/residual_norm.h"
#include "clippo/model/torch_version.h"

namespace clippo::model {

namespace {

const std::string kBlk = "img/Transformer/encoderblock_";
const std::string kAttn = "MultiHeadDotProductAttention_0/";

}  // namespace

// ---- the module ------------------------------------------------------------

// The tensors one forward pass uses: kernels as (in, out) matrices (QKV
// fused), in the matmul dtype; vectors in float32.
struct OneTowerImpl::Weights {
  struct Block {
    torch::Tensor ln1_s, ln1_b, wqkv, bqkv, wo, bo, ln2_s, ln2_b, w1, b1, w2, b2;
  };
  torch::Tensor stem_w, stem_b, pos, cls;
  std::vector<Block> blocks;
  torch::Tensor enc_s, enc_b;
  torch::Tensor probe, map_wq, map_bq, map_wkv, map_bkv, map_wo, map_bo, map_ln_s, map_ln_b, map_w1, map_b1, map_w2,
      map_b2;
  torch::Tensor head_w, head_b;
  // prepare_inference's: the blocks' q kernel and bias scaled by
  // 1/sqrt(head dim), their qkv bias in the kernel dtype; run() takes the
  // inference path (inference_block).
  bool inference = false;
};

torch::Tensor OneTowerImpl::add(const std::string& name, std::vector<int64_t> shape) {
  return register_parameter(name, torch::zeros(shape));
}

OneTowerImpl::OneTowerImpl(ModelConfig c, bool init) : config_(std::move(c)) {
  config_.validate();
  const int64_t D = config_.width, H = config_.heads, hd = D / H, M = config_.mlp_dim, p = config_.patch;
  t = add("t", {1});
  add("img/embedding/kernel", {p, p, 3, D});
  add("img/embedding/bias", {D});
  if (config_.posemb == "learn") add("img/pos_embedding", {1, config_.tokens(), D});
  if (config_.pool == "tok") add("img/cls", {1, 1, D});
  auto attention = [&](const std::string& pre) {
    for (auto n : {"query", "key", "value"}) {
      add(pre + n + "/kernel", {D, H, hd});
      add(pre + n + "/bias", {H, hd});
    }
    add(pre + "out/kernel", {H, hd, D});
    add(pre + "out/bias", {D});
  };
  auto layernorm = [&](const std::string& pre) {
    add(pre + "scale", {D});
    add(pre + "bias", {D});
  };
  auto mlp = [&](const std::string& pre) {
    add(pre + "Dense_0/kernel", {D, M});
    add(pre + "Dense_0/bias", {M});
    add(pre + "Dense_1/kernel", {M, D});
    add(pre + "Dense_1/bias", {D});
  };
  for (int i = 0; i < config_.depth; ++i) {
    std::string b = kBlk + std::to_string(i) + "/";
    layernorm(b + "LayerNorm_0/");
    attention(b + kAttn);
    layernorm(b + "LayerNorm_1/");
    mlp(b + "MlpBlock_0/");
  }
  layernorm("img/Transformer/encoder_norm/");
  if (config_.pool == "map") {
    add("img/MAPHead_0/probe", {1, 1, D});
    attention("img/MAPHead_0/" + kAttn);
    layernorm("img/MAPHead_0/LayerNorm_0/");
    mlp("img/MAPHead_0/MlpBlock_0/");
  }
  if (config_.out_dim > 0) {
    add("img/head/kernel", {D, config_.out_dim});
    add("img/head/bias", {config_.out_dim});
  }
  if (init) reset_parameters(0);
  else {
    torch::NoGradGuard no_grad;
    t.fill_(std::log(10.0));  // a plain ViT checkpoint has no t
  }
}

torch::Tensor OneTowerImpl::param(const std::string& name) const {
  const auto params = named_parameters(false);  // find() points into it: keep it alive
  const auto* p = params.find(name);
  return p ? *p : torch::Tensor();
}

void OneTowerImpl::reset_parameters(uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(seed);
  auto uniform = [&](torch::Tensor p, double limit) {
    p.copy_(torch::rand(p.sizes(), gen).mul_(2 * limit).sub_(limit));
  };
  auto normal = [&](torch::Tensor p, double std) { p.copy_(torch::randn(p.sizes(), gen).mul_(std)); };
  for (auto& item : named_parameters(false)) {
    const std::string& n = item.key();
    torch::Tensor p = item.value();
    auto ends = [&](const std::string& s) { return n.size() >= s.size() && n.compare(n.size() - s.size(), s.size(), s) == 0; };
    if (n == "t") p.fill_(std::log(10.0));
    else if (ends("scale")) p.fill_(1.0);
    else if (n == "img/pos_embedding") normal(p, 1.0 / std::sqrt(static_cast<double>(config_.width)));
    else if (n == "img/embedding/kernel") normal(p, 1.0 / std::sqrt(static_cast<double>(p.size(0) * p.size(1) * p.size(2))));
    else if (ends("/kernel")) {
      // xavier_uniform with DenseGeneral's fans: query/key/value (D, H, hd)
      // fan_in D; out (H, hd, D) fan_out D.
      double fan_in, fan_out;
      if (p.dim() == 3 && ends("out/kernel")) fan_in = p.size(0) * p.size(1), fan_out = p.size(2);
      else if (p.dim() == 3) fan_in = p.size(0), fan_out = p.size(1) * p.size(2);
      else fan_in = p.size(0), fan_out = p.size(1);
      uniform(p, std::sqrt(6.0 / (fan_in + fan_out)));
    } else if (n == "img/MAPHead_0/probe") uniform(p, std::sqrt(6.0 / (1.0 + config_.width)));
    else if (ends("MlpBlock_0/Dense_0/bias") || ends("MlpBlock_0/Dense_1/bias")) normal(p, 1e-6);
    else p.zero_();
  }
  cache_.reset();
}

OneTowerImpl::Weights OneTowerImpl::gather(torch::ScalarType dtype) const {
  auto P = named_parameters(false);
  auto get = [&](const std::string& n) { return *P.find(n); };
  const int64_t D = config_.width;
  auto mat = [&](const torch::Tensor& t, int64_t in) { return t.reshape({in, -1}).to(dtype); };
  Weights w;
  w.stem_w = mat(get("img/embedding/kernel"), config_.patch * config_.patch * 3);
  w.stem_b = get("img/embedding/bias");
  if (config_.posemb == "learn") w.pos = get("img/pos_embedding");
  else w.pos = posemb_sincos2d(config_.grid(), config_.grid(), config_.width).to(get("t").device());
  if (config_.pool == "tok") w.cls = get("img/cls");
  auto attn = [&](const std::string& pre, torch::Tensor& wqkv, torch::Tensor& bqkv, torch::Tensor& wo,
                  torch::Tensor& bo) {
    wqkv = torch::cat({mat(get(pre + "query/kernel"), D), mat(get(pre + "key/kernel"), D), mat(get(pre + "value/kernel"), D)}, 1);
    bqkv = torch::cat({get(pre + "query/bias").reshape(-1), get(pre + "key/bias").reshape(-1),
                       get(pre + "value/bias").reshape(-1)});
    wo = mat(get(pre + "out/kernel"), D);
    bo = get(pre + "out/bias");
  };
  for (int i = 0; i < config_.depth; ++i) {
    std::string b = kBlk + std::to_string(i) + "/";
    Weights::Block k;
    k.ln1_s = get(b + "LayerNorm_0/scale"), k.ln1_b = get(b + "LayerNorm_0/bias");
    attn(b + kAttn, k.wqkv, k.bqkv, k.wo, k.bo);
    k.ln2_s = get(b + "LayerNorm_1/scale"), k.ln2_b = get(b + "LayerNorm_1/bias");
    k.w1 = mat(get(b + "MlpBlock_0/Dense_0/kernel"), D), k.b1 = get(b + "MlpBlock_0/Dense_0/bias");
    k.w2 = get(b + "MlpBlock_0/Dense_1/kernel").to(dtype), k.b2 = get(b + "MlpBlock_0/Dense_1/bias");
    w.blocks.push_back(std::move(k));
  }
  w.enc_s = get("img/Transformer/encoder_norm/scale"), w.enc_b = get("img/Transformer/encoder_norm/bias");
  if (config_.pool == "map") {
    std::string m = "img/MAPHead_0/";
    w.probe = get(m + "probe");
    torch::Tensor wqkv, bqkv;
    attn(m + kAttn, wqkv, bqkv, w.map_wo, w.map_bo);
    w.map_wq = wqkv.slice(1, 0, D), w.map_wkv = wqkv.slice(1, D);
    w.map_bq = bqkv.slice(0, 0, D), w.map_bkv = bqkv.slice(0, D);
    w.map_ln_s = get(m + "LayerNorm_0/scale"), w.map_ln_b = get(m + "LayerNorm_0/bias");
    w.map_w1 = get(m + "MlpBlock_0/Dense_0/kernel").to(dtype), w.map_b1 = get(m + "MlpBlock_0/Dense_0/bias");
    w.map_w2 = get(m + "MlpBlock_0/Dense_1/kernel").to(dtype), w.map_b2 = get(m + "MlpBlock_0/Dense_1/bias");
  }
  if (config_.out_dim > 0) w.head_w = get("img/head/kernel"), w.head_b = get("img/head/bias");
  return w;
}

namespace {

// x (..., in) @ w (in, out) + b in w's dtype; the result stays in w's dtype
// (under autocast, in its dtype: x is not first cast to w's, to be cast back).
torch::Tensor dense(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  auto shape = x.sizes().vec();
  shape.back() = w.size(1);
  auto x2 = x.reshape({-1, x.size(-1)});
  if (!autocast_state(x.device().type()).enabled) x2 = x2.to(w.scalar_type());
  return torch::addmm(b.to(w.scalar_type()), x2, w).view(shape);
}

torch::Tensor layer_norm(const torch::Tensor& x, const torch::Tensor& s, const torch::Tensor& b) {
  return torch::layer_norm(x.to(torch::kFloat), {x.size(-1)}, s, b, 1e-6);
}

// On a GPU, softmax(q k^T) v for heads laid out (N, H, L, hd) with q already
// scaled: torch's fused attention (flash or memory-efficient kernels, softmax
// in float32 inside), which never stores the L x L scores. Undefined elsewhere.
torch::Tensor fused_attention([[maybe_unused]] const torch::Tensor& q, [[maybe_unused]] const torch::Tensor& k,
                              [[maybe_unused]] const torch::Tensor& v) {
#if CLIPPO_TORCH_AT_LEAST(2, 1)
  if (q.is_cuda()) return at::scaled_dot_product_attention(q, k, v, {}, 0.0, false, /*scale=*/1.0);
#endif
  return {};
}

// Multi-head attention of q (N, Lq, H*hd) over k, v (N, Lk, H*hd): softmax in
// float32, q scaled by 1/sqrt(hd) as flax does. Result (N, Lq, H*hd).
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, int64_t heads) {
  const int64_t N = q.size(0), Lq = q.size(1), Lk = k.size(1), hd = q.size(2) / heads;
  auto split = [&](const torch::Tensor& t, int64_t L) { return t.reshape({N, L, heads, hd}).transpose(1, 2); };
  auto qh = split(q, Lq) * (1.0 / std::sqrt(static_cast<double>(hd)));
  auto a = fused_attention(qh, split(k, Lk), split(v, Lk));
  if (!a.defined()) {
    auto scores = torch::matmul(qh, split(k, Lk).transpose(-2, -1));
    auto probs = torch::softmax(scores.to(torch::kFloat), -1).to(v.scalar_type());
    a = torch::matmul(probs, split(v, Lk));
  }
  return a.transpose(1, 2).reshape({N, Lq, heads * hd});
}

torch::Tensor mlp(const torch::Tensor& y, const torch::Tensor& w1, const torch::Tensor& b1, const torch::Tensor& w2,
                  const torch::Tensor& b2) {
  return dense(gelu_tanh(dense(y, w1, b1)), w2, b2).to(torch::kFloat);
}

// One pre-LayerNorm encoder block. w: ln1 scale, bias, fused qkv kernel,
// bias, out kernel, bias, ln2 scale, bias, mlp kernel 1, bias 1, kernel 2, bias 2.
torch::Tensor encoder_block(const torch::Tensor& x0, torch::TensorList w, int64_t heads) {
  auto y = layer_norm(x0, w[0], w[1]);
  auto qkv = dense(y, w[2], w[3]).chunk(3, -1);
  auto x = x0 + dense(attention(qkv[0], qkv[1], qkv[2], heads), w[4], w[5]).to(torch::kFloat);
  return x + mlp(layer_norm(x, w[6], w[7]), w[8], w[9], w[10], w[11]);
}

// encoder_block with its activations dropped after the forward pass and
// recomputed (under the same autocast setting) when the gradient is needed.
struct CheckpointedBlock : torch::autograd::Function<CheckpointedBlock> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x, int64_t heads,
                               torch::TensorList w) {
    std::vector<torch::Tensor> saved{x};
    saved.insert(saved.end(), w.begin(), w.end());
    ctx->save_for_backward(saved);
    ctx->saved_data["heads"] = heads;
    const Autocast ac = autocast_state(x.device().type());
    ctx->saved_data["autocast"] = ac.enabled;
    ctx->saved_data["autocast_dtype"] = static_cast<int64_t>(ac.dtype);
    torch::NoGradGuard no_grad;
    return encoder_block(x, w, heads);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    std::vector<torch::Tensor> inputs, wanted;
    for (auto& t : ctx->get_saved_variables()) {
      inputs.push_back(t.detach().requires_grad_(t.requires_grad()));
      if (t.requires_grad()) wanted.push_back(inputs.back());
    }
    torch::Tensor y;
    {
      torch::AutoGradMode grad(true);
      // The backward pass runs outside the forward pass's autocast scope (on
      // a GPU, on autograd's own thread): restore its setting for the recompute.
      const AutocastReplay replay(inputs[0].device().type(),
                                  {ctx->saved_data["autocast"].toBool(),
                                   static_cast<c10::ScalarType>(ctx->saved_data["autocast_dtype"].toInt())});
      y = encoder_block(inputs[0], torch::TensorList(inputs).slice(1), ctx->saved_data["heads"].toInt());
    }
    auto grads = torch::autograd::grad({y}, wanted, {grad_out[0]}, /*retain_graph=*/false, /*create_graph=*/false,
                                       /*allow_unused=*/true);
    // One entry per forward argument: x, heads (none), then each tensor of w.
    torch::autograd::variable_list out;
    size_t next = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      out.push_back(inputs[i].requires_grad() ? grads[next++] : torch::Tensor());
      if (i == 0) out.emplace_back();
    }
    return out;
  }
};

// encoder_block for inference, on prepare_inference's weights (q's kernel
// and bias already scaled by 1/sqrt(hd), the qkv bias in the kernel dtype):
// the same arithmetic in fewer passes over memory. y is the block's first
// LayerNorm of x, in the kernel dtype; x is updated in place; returns the
// LayerNorm that follows the block (next_scale, next_shift) in next_dtype.
// Matmuls without a bias (addmm first broadcasts the bias into its output: a
// quarter of the time of the matmul with oneDNN's bf16 kernels), each bias
// added where its result is read anyway (in the copy of q, k, v to
// head-major order, inside the GELU, in the residual update); the attention
// matmuls on contiguous heads (fused on a GPU); softmax on bf16 scores (in float32
// inside, as accurate as casting them); each residual update fused with the
// LayerNorm after it.
torch::Tensor inference_block(torch::Tensor& x, const torch::Tensor& y, torch::TensorList w, int64_t heads,
                              const torch::Tensor& next_scale, const torch::Tensor& next_shift,
                              torch::ScalarType next_dtype) {
  const int64_t N = x.size(0), L = x.size(1), D = x.size(2), hd = D / heads;
  const auto dt = w[2].scalar_type();
  auto qkv = torch::empty({3, N * heads, L, hd}, y.options());
  auto heads_major = qkv.view({3, N, heads, L, hd}).permute({1, 3, 0, 2, 4});
  torch::add_out(heads_major, torch::mm(y.view({N * L, D}), w[2]).view({N, L, 3, heads, hd}), w[3].view({3, heads, hd}));
  auto per_head = [&](int i) { return qkv[i].view({N, heads, L, hd}); };
  auto a = fused_attention(per_head(0), per_head(1), per_head(2));
  if (!a.defined()) a = torch::bmm(torch::softmax(torch::bmm(qkv[0], qkv[1].transpose(1, 2)), -1), qkv[2]);
  a = a.reshape({N, heads, L, hd}).transpose(1, 2).reshape({N * L, D});
  auto y2 = add_layer_norm(x, torch::mm(a, w[4]).view({N, L, D}), w[5], w[6], w[7], dt);
  auto h = torch::mm(y2.view({N * L, D}), w[8]);
  gelu_tanh_(h, w[9]);
  return add_layer_norm(x, torch::mm(h, w[10]).view({N, L, D}), w[11], next_scale, next_shift, next_dtype);
}

}  // namespace

OneTowerOutput OneTowerImpl::run(const Weights& w, torch::Tensor images) const {
  const int64_t N = images.size(0), p = config_.patch, g = config_.grid(), D = config_.width;
  if (images.dim() != 4 || images.size(1) != 3 || images.size(2) != config_.res || images.size(3) != config_.res)
    throw Error(fmt::format("model expects images of shape (N, 3, {0}, {0}), got {1}", config_.res,
                            fmt::format("{}", fmt::join(images.sizes().vec(), ", "))));
  // Patchify as the VALID stride-p convolution does: (N, g*g, p*p*3) in
  // (row, col, channel) order, matching the HWIO kernel flattened.
  auto patches = images.to(torch::kFloat).reshape({N, 3, g, p, g, p}).permute({0, 2, 4, 3, 5, 1}).reshape({N, g * g, p * p * 3});
  auto x = dense(patches, w.stem_w, w.stem_b).to(torch::kFloat) + w.pos;
  if (config_.pool == "tok") x = torch::cat({w.cls.expand({N, 1, D}), x}, 1);
  const int64_t H = config_.heads;
  const bool checkpoint = grad_checkpointing_ && torch::GradMode::is_enabled();
  auto block_weights = [](const Weights::Block& b) {
    return std::vector<torch::Tensor>{b.ln1_s, b.ln1_b, b.wqkv, b.bqkv, b.wo, b.bo, b.ln2_s, b.ln2_b, b.w1, b.b1, b.w2, b.b2};
  };
  if (w.inference) {
    // Each block returns the next one's first LayerNorm (the last, encoder_norm in float32).
    const auto dt = w.blocks.front().wqkv.scalar_type();
    auto y = add_layer_norm(x, {}, {}, w.blocks.front().ln1_s, w.blocks.front().ln1_b, dt);
    for (size_t i = 0; i < w.blocks.size(); ++i) {
      const bool last = i + 1 == w.blocks.size();
      y = inference_block(x, y, block_weights(w.blocks[i]), H, last ? w.enc_s : w.blocks[i + 1].ln1_s,
                          last ? w.enc_b : w.blocks[i + 1].ln1_b, last ? torch::kFloat : dt);
    }
    x = y;
  } else {
    for (auto& b : w.blocks) {
      auto bw = block_weights(b);
      x = checkpoint ? CheckpointedBlock::apply(x, H, torch::TensorList(bw)) : encoder_block(x, bw, H);
    }
    x = layer_norm(x, w.enc_s, w.enc_b);
  }
  torch::Tensor pooled;
  if (config_.pool == "map") {
    auto q = dense(w.probe.expand({N, 1, D}), w.map_wq, w.map_bq);
    auto kv = dense(x, w.map_wkv, w.map_bkv).chunk(2, -1);
    auto a = dense(attention(q, kv[0], kv[1], H), w.map_wo, w.map_bo).to(torch::kFloat);
    a = a + mlp(layer_norm(a, w.map_ln_s, w.map_ln_b), w.map_w1, w.map_b1, w.map_w2, w.map_b2);
    pooled = a.select(1, 0);
  } else if (config_.pool == "gap") {
    pooled = x.mean(1);
  } else {
    pooled = x.select(1, 0);
  }
  OneTowerOutput out;
  out.pre_logits = pooled;
  auto z = config_.out_dim > 0 ? torch::addmm(w.head_b, pooled, w.head_w) : pooled;
  out.z = z / (z.norm(2, -1, true) + 1e-8);
  return out;
}

OneTowerOutput OneTowerImpl::forward(torch::Tensor images) {
  if (cache_) {
    torch::NoGradGuard no_grad;  // inference_block updates its input in place
    return run(*cache_, images);
  }
  return run(gather(torch::kFloat), images);
}

void OneTowerImpl::prepare_inference(torch::ScalarType dtype) {
  torch::NoGradGuard no_grad;
  auto w = std::make_shared<Weights>(gather(dtype));
  // Flax scales q by 1/sqrt(hd); folded into q's kernel and bias (exact for
  // a power-of-two head dimension: 64 from Ti to L).
  const int64_t D = config_.width;
  const double scale = 1.0 / std::sqrt(static_cast<double>(D / config_.heads));
  for (auto& b : w->blocks) {
    b.wqkv = torch::cat({b.wqkv.slice(1, 0, D) * scale, b.wqkv.slice(1, D)}, 1);
    b.bqkv = torch::cat({b.bqkv.slice(0, 0, D) * scale, b.bqkv.slice(0, D)}).to(dtype);
  }
  w->inference = true;
  cache_ = std::move(w);
}

void OneTowerImpl::clear_inference() { cache_.reset(); }

torch::Tensor posemb_sincos2d(int h, int w, int width, double temperature) {
  if (width % 4) throw Error("posemb_sincos2d: width must be divisible by 4");
  auto opts = torch::TensorOptions().dtype(torch::kDouble);
  auto grid = torch::meshgrid({torch::arange(h, opts), torch::arange(w, opts)}, "ij");
  int64_t q = width / 4;
  auto omega = torch::arange(q, opts) / std::max<int64_t>(q - 1, 1);
  omega = 1.0 / torch::pow(temperature, omega);
  auto y = torch::outer(grid[0].flatten(), omega), x = torch::outer(grid[1].flatten(), omega);
  return torch::cat({torch::sin(x), torch::cos(x), torch::sin(y), torch::cos(y)}, 1).unsqueeze(0).to(torch::kFloat);
}

torch::Tensor resample_posemb(const torch::Tensor& posemb, int new_grid) {
  int64_t L = posemb.size(1), D = posemb.size(2);
  int64_t g = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(L))));
  if (g * g != L) throw Error(fmt::format("cannot resample a position embedding of {} tokens: not a square grid", L));
  if (g == new_grid) return posemb;
  auto grid = posemb.reshape({1, g, g, D}).permute({0, 3, 1, 2}).to(torch::kDouble);
  auto out = torch::nn::functional::interpolate(
      grid, torch::nn::functional::InterpolateFuncOptions()
                .size(std::vector<int64_t>{new_grid, new_grid})
                .mode(torch::kBilinear)
                .align_corners(true));
  return out.permute({0, 2, 3, 1}).reshape({1, static_cast<int64_t>(new_grid) * new_grid, D}).to(posemb.scalar_type());
}

}  // namespace clippo::model
