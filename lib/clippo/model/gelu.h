// GELU, tanh approximation (flax nn.gelu's default): fast CPU kernels, with
// their own gradient under autograd; torch::gelu on other devices.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

namespace clippo::model {

// gelu(x + bias): bias (x.size(-1),) float32 or undefined (none). x float32
// or bfloat16; the result has x's type.
torch::Tensor gelu_tanh(const torch::Tensor& x, const torch::Tensor& bias = {});
// The same into x's own memory where the fast path applies (x then holds
// the result; otherwise x is replaced by a new tensor). For inference.
void gelu_tanh_(torch::Tensor& x, const torch::Tensor& bias = {});

// For the tests: the CPU kernels this machine runs, best first ("avx512",
// "avx2", "generic"), and gelu_tanh through one of them, or with dy its
// gradient: d gelu(x + bias) / dx * dy.
std::vector<std::string> gelu_kernels();
torch::Tensor gelu_tanh_with(const std::string& kernel, const torch::Tensor& x, const torch::Tensor& bias = {},
                             const torch::Tensor& dy = {});

}  // namespace clippo::model
