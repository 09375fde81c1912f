// GELU, tanh approximation (flax nn.gelu's default), fast on CPU for
// inference; falls back to torch::gelu where autograd or another device needs it.
#pragma once
#include <torch/torch.h>

namespace clippo::model {

torch::Tensor gelu_tanh(const torch::Tensor& x);

}  // namespace clippo::model
