// The residual update and the LayerNorm after it as one pass over memory,
// for inference on CPU (each was several torch ops: casts, adds, the norm,
// a cast back, each a parallel region of its own).
#pragma once
#include <torch/torch.h>

#include <string>

namespace clippo::model {

// x += y + bias in place (x float32 (..., D) contiguous; y x's shape in
// float32 or bfloat16, or undefined for no update; bias (D,) float32 or
// undefined), then returns LayerNorm(x) with eps 1e-6, `scale` and `shift`
// ((D,) float32), in `out_dtype` (float32 or bfloat16). Falls back to torch
// ops off the CPU or under autograd.
torch::Tensor add_layer_norm(torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& bias, const torch::Tensor& scale,
                             const torch::Tensor& shift, torch::ScalarType out_dtype);

// For the tests: the same through one CPU kernel ("avx512", "avx2", "generic").
torch::Tensor add_layer_norm_with(const std::string& kernel, torch::Tensor& x, const torch::Tensor& y,
                                  const torch::Tensor& bias, const torch::Tensor& scale, const torch::Tensor& shift,
                                  torch::ScalarType out_dtype);

}  // namespace clippo::model
