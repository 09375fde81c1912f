#include "clippo/model/residual_norm.h"

#include <ATen/Parallel.h>

#include <cmath>

#include "clippo/model/simd.h"

namespace clippo::model {

namespace {

using simd::Isa;

constexpr int kLanes = 16;  // partial sums, so the reductions vectorise without reassociating floats

// One row of D: x += y + b (y, b may be null), then out = LayerNorm(x).
#define CLIPPO_ADD_NORM_KERNEL(suffix, attr)                                                                    \
  template <class Y, class O>                                                                                   \
  attr void add_norm_##suffix(float* x, const Y* y, const float* b, const float* s, const float* t, O* out,    \
                              int64_t d) {                                                                      \
    if (y && b)                                                                                                 \
      for (int64_t i = 0; i < d; ++i) x[i] += simd::load(y[i]) + b[i];                                          \
    else if (y)                                                                                                 \
      for (int64_t i = 0; i < d; ++i) x[i] += simd::load(y[i]);                                                 \
    else if (b)                                                                                                 \
      for (int64_t i = 0; i < d; ++i) x[i] += b[i];                                                             \
    const int64_t body = d / kLanes * kLanes;                                                                   \
    float acc[kLanes] = {};                                                                                     \
    for (int64_t i = 0; i < body; i += kLanes)                                                                  \
      for (int j = 0; j < kLanes; ++j) acc[j] += x[i + j];                                                      \
    double sum = 0;                                                                                             \
    for (int j = 0; j < kLanes; ++j) sum += acc[j];                                                             \
    for (int64_t i = body; i < d; ++i) sum += x[i];                                                             \
    const float mean = static_cast<float>(sum / static_cast<double>(d));                                        \
    float sq[kLanes] = {};                                                                                      \
    for (int64_t i = 0; i < body; i += kLanes)                                                                  \
      for (int j = 0; j < kLanes; ++j) sq[j] += (x[i + j] - mean) * (x[i + j] - mean);                          \
    double var = 0;                                                                                             \
    for (int j = 0; j < kLanes; ++j) var += sq[j];                                                              \
    for (int64_t i = body; i < d; ++i) var += (x[i] - mean) * (x[i] - mean);                                    \
    const float rstd = static_cast<float>(1.0 / std::sqrt(var / static_cast<double>(d) + 1e-6));               \
    for (int64_t i = 0; i < d; ++i) simd::store(out[i], (x[i] - mean) * rstd * s[i] + t[i]);                    \
  }

CLIPPO_ADD_NORM_KERNEL(generic, )
CLIPPO_ADD_NORM_KERNEL(avx2, CLIPPO_TARGET_AVX2)
CLIPPO_ADD_NORM_KERNEL(avx512, CLIPPO_TARGET_AVX512)

template <class Y, class O>
void add_norm_row(Isa isa, float* x, const Y* y, const float* b, const float* s, const float* t, O* out, int64_t d) {
  if (isa == Isa::avx512) add_norm_avx512(x, y, b, s, t, out, d);
  else if (isa == Isa::avx2) add_norm_avx2(x, y, b, s, t, out, d);
  else add_norm_generic(x, y, b, s, t, out, d);
}

bool is_vector(const torch::Tensor& v, int64_t d) {
  return v.device().is_cpu() && v.scalar_type() == torch::kFloat && v.dim() == 1 && v.size(0) == d && v.is_contiguous();
}

torch::Tensor run(Isa isa, torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& bias, const torch::Tensor& scale,
                  const torch::Tensor& shift, torch::ScalarType out_dtype) {
  const int64_t d = x.size(-1);
  const bool fast =
      x.device().is_cpu() && x.scalar_type() == torch::kFloat && x.is_contiguous() &&
      !(torch::GradMode::is_enabled() && x.requires_grad()) &&
      (!y.defined() || (y.device().is_cpu() && y.sizes() == x.sizes() && y.is_contiguous() &&
                        (y.scalar_type() == torch::kFloat || y.scalar_type() == torch::kBFloat16))) &&
      (!bias.defined() || is_vector(bias, d)) && is_vector(scale, d) && is_vector(shift, d) &&
      (out_dtype == torch::kFloat || out_dtype == torch::kBFloat16);
  if (!fast) {
    if (y.defined()) x.add_(y);
    if (bias.defined()) x.add_(bias);
    return torch::layer_norm(x, {d}, scale, shift, 1e-6).to(out_dtype);
  }
  auto out = torch::empty(x.sizes(), x.options().dtype(out_dtype));
  const int64_t rows = x.numel() / d;
  float* xp = x.data_ptr<float>();
  const float* bp = bias.defined() ? bias.data_ptr<float>() : nullptr;
  const float *sp = scale.data_ptr<float>(), *tp = shift.data_ptr<float>();
  const bool y_bf16 = y.defined() && y.scalar_type() == torch::kBFloat16, o_bf16 = out_dtype == torch::kBFloat16;
  const void* yp = y.defined() ? y.data_ptr() : nullptr;
  void* op = out.data_ptr();
  at::parallel_for(0, rows, std::max<int64_t>(1, (1 << 14) / d), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float* xr = xp + r * d;
      if (y_bf16 && o_bf16)
        add_norm_row(isa, xr, yp ? static_cast<const uint16_t*>(yp) + r * d : nullptr, bp, sp, tp,
                     static_cast<uint16_t*>(op) + r * d, d);
      else if (y_bf16)
        add_norm_row(isa, xr, static_cast<const uint16_t*>(yp) + r * d, bp, sp, tp, static_cast<float*>(op) + r * d, d);
      else if (o_bf16)
        add_norm_row(isa, xr, yp ? static_cast<const float*>(yp) + r * d : nullptr, bp, sp, tp,
                     static_cast<uint16_t*>(op) + r * d, d);
      else
        add_norm_row(isa, xr, yp ? static_cast<const float*>(yp) + r * d : nullptr, bp, sp, tp,
                     static_cast<float*>(op) + r * d, d);
    }
  });
  return out;
}

}  // namespace

torch::Tensor add_layer_norm(torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& bias, const torch::Tensor& scale,
                             const torch::Tensor& shift, torch::ScalarType out_dtype) {
  return run(simd::best(), x, y, bias, scale, shift, out_dtype);
}

torch::Tensor add_layer_norm_with(const std::string& kernel, torch::Tensor& x, const torch::Tensor& y,
                                  const torch::Tensor& bias, const torch::Tensor& scale, const torch::Tensor& shift,
                                  torch::ScalarType out_dtype) {
  return run(simd::parse_isa(kernel), x, y, bias, scale, shift, out_dtype);
}

}  // namespace clippo::model
