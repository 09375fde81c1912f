// Optimizers in big_vision's form: clip by global norm, then an update
// direction (Adafactor or Adam), times lr, plus decoupled weight decay on
// kernels, all times the schedule. The model keeps its parameters in
// big_vision's layout, so the state (factored moments follow the shapes) is
// saved under the parameters' names as big_vision's would be.
#pragma once
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "clippo/train/optim_config.h"

namespace clippo::train {

// One trainable tensor, in big_vision's layout.
struct ParamSpec {
  std::string name;  // big_vision name without "params/", e.g. "img/head/kernel"
  torch::Tensor param;
  bool decay = false;  // weight decay applies (names ending in "/kernel")
};

// The spec of a named parameter.
ParamSpec param_spec(std::string name, torch::Tensor param);

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
  // ranks), at schedule multiplier `sched`. Returns the gradient norm; when
  // that is not finite (an overflow in the backward pass) nothing is
  // updated and the count stays.
  double step(double sched);
  int64_t count() const { return count_; }

  // State as named arrays ("opt/count" in float64, "opt/v_row/img/head/kernel",
  // ...: float32, the momentum bfloat16).
  std::map<std::string, torch::Tensor> state() const;
  // Restores state(); throws Error naming a missing or misshapen array.
  void load_state(const std::map<std::string, torch::Tensor>& arrays);

 private:
  torch::Tensor adafactor(size_t i, const torch::Tensor& g);
  torch::Tensor adam(size_t i, const torch::Tensor& g);
  void update(size_t i, const torch::Tensor& g, double sched);

  OptimConfig cfg_;
  float momentum_bf16_;  // the momentum decay as JAX multiplies by it (in bfloat16)
  std::vector<ParamSpec> params_;
  int64_t count_ = 0;
  // Per param, bv layout.
  std::vector<torch::Tensor> v_row_, v_col_, v_, mu_, nu_;
};

}  // namespace clippo::train
