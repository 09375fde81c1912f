// Optimizers in big_vision's form: clip by global norm, then an update
// direction (Adafactor or Adam), times lr, plus decoupled weight decay on
// kernels, all times the schedule. State lives in big_vision's layout
// (factored moments follow the checkpoint shapes, not torch's), so it is
// saved under the parameters' names.
#pragma once
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "clippo/train/optim_config.h"

namespace clippo::train {

// One trainable tensor and how it maps to its big_vision array:
// bv = param.permute(perm).reshape(bv_shape). Empty perm = identity.
struct ParamSpec {
  std::string name;  // big_vision name without "params/", e.g. "img/head/kernel"
  torch::Tensor param;
  std::vector<int64_t> perm;
  std::vector<int64_t> bv_shape;
  bool decay = false;  // weight decay applies (names ending in "/kernel")

  torch::Tensor to_bv(const torch::Tensor& t) const;    // torch layout -> bv (a copy when permuted)
  torch::Tensor from_bv(const torch::Tensor& t) const;  // bv layout -> torch layout
};

// A spec for a tensor that is already in big_vision layout.
ParamSpec plain_spec(std::string name, torch::Tensor param);

// Scales grads in place so their global L2 norm is at most max_norm (optax
// clip_by_global_norm). Returns the norm before clipping.
double clip_global_norm(const std::vector<torch::Tensor>& grads, double max_norm);

// The two axes Adafactor factors over (optax _factored_dims: the largest
// axis d0 and the second largest d1), or {-1,-1} when not factored.
std::pair<int64_t, int64_t> factored_dims(const std::vector<int64_t>& shape, int64_t min_dim_size_to_factor);

class Optimizer {
 public:
  Optimizer(OptimConfig cfg, std::vector<ParamSpec> params);
  // One update with the grads already in each param's .grad() (summed over
  // ranks), at schedule multiplier `sched`. Returns the gradient norm.
  double step(double sched);
  int64_t count() const { return count_; }
  const std::vector<ParamSpec>& params() const { return params_; }

  // State as named arrays ("opt/count", "opt/v_row/img/head/kernel", ...),
  // float32 except the bf16 momentum.
  std::map<std::string, torch::Tensor> state() const;
  // Restores state(); throws Error naming a missing or misshapen array.
  void load_state(const std::map<std::string, torch::Tensor>& arrays);

 private:
  torch::Tensor adafactor(size_t i, const torch::Tensor& g);
  torch::Tensor adam(size_t i, const torch::Tensor& g);

  OptimConfig cfg_;
  std::vector<ParamSpec> params_;
  int64_t count_ = 0;
  // Per param, bv layout.
  std::vector<torch::Tensor> v_row_, v_col_, v_, mu_, nu_;
};

}  // namespace clippo::train
