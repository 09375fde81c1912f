// GELU with the tanh approximation on CPU, and its gradient, optionally with
// the bias of the Dense before it added in the same pass. libtorch 1.13's own
// kernels took a third of a bf16 B/16 forward pass and a third of a bf16
// training step (its bf16 kernel also rounds after each step); these evaluate
// tanh through a Cephes-style expf written so that the compiler vectorises it
// (AVX-512 or AVX2 when the CPU has them), with ~1e-7 relative error.
#include "clippo/model/gelu.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "clippo/model/simd.h"

namespace clippo::model {

namespace {

using simd::Isa;

// Branch-free (clamps as selects, rounding by adding 1.5 * 2^23, the
// exponent from the bits of that sum rather than a float-to-int
// conversion), so the loops below vectorise. The clamps still need
// -fno-trapping-math (set for this file in lib/CMakeLists.txt) for GCC to
// turn them into vector selects.
__attribute__((always_inline)) inline float exp_approx(float x) {
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  const float magic = 12582912.0f;  // 1.5 * 2^23: the sum's low mantissa bits hold round(x / ln 2)
  float t = x * 1.44269504088896341f + magic;
  float n = t - magic;
  int32_t ti;
  std::memcpy(&ti, &t, 4);
  float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t bits = (ti - 0x4B400000 + 127) << 23;  // 0x4B400000: the bits of `magic`
  float scale;
  std::memcpy(&scale, &bits, 4);
  return p * scale;
}

__attribute__((always_inline)) inline float gelu_one(float x) {
  // 0.5 x (1 + tanh(u)), tanh(u) = 1 - 2 / (exp(2u) + 1), u = sqrt(2/pi) (x + 0.044715 x^3)
  const float k = 0.7978845608028654f;
  float u2 = 2.0f * k * x * (1.0f + 0.044715f * x * x);
  float t = 1.0f - 2.0f / (exp_approx(u2) + 1.0f);
  return 0.5f * x * (1.0f + t);
}

// d gelu(x) / dx = 0.5 (1 + t) + 0.5 x (1 - t^2) u'(x), u' = sqrt(2/pi) (1 + 3 * 0.044715 x^2)
__attribute__((always_inline)) inline float gelu_grad_one(float x) {
  const float k = 0.7978845608028654f;
  const float x2 = x * x;
  float t = 1.0f - 2.0f / (exp_approx(2.0f * k * x * (1.0f + 0.044715f * x2)) + 1.0f);
  return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * k * (1.0f + 3.0f * 0.044715f * x2);
}

// Over one row (bias may be null), T float or bfloat16 (uint16_t):
//   forward:  out[i] = gelu(in[i] + bias[i])            (in place when out == in)
//   backward: out[i] = gelu'(in[i] + bias[i]) * dy[i]
// Through a float buffer so the arithmetic loops vectorise the same for both types.
#define CLIPPO_GELU_KERNELS(suffix, attr)                                                          \
  template <class T>                                                                               \
  attr void gelu_##suffix(const T* in, const float* bias, const T* dy, T* out, int64_t n) {        \
    constexpr int64_t kBlock = 256;                                                                \
    float buf[kBlock];                                                                             \
    for (int64_t s = 0; s < n; s += kBlock) {                                                      \
      int64_t m = std::min(kBlock, n - s);                                                         \
      for (int64_t i = 0; i < m; ++i) buf[i] = simd::load(in[s + i]);                              \
      if (bias)                                                                                    \
        for (int64_t i = 0; i < m; ++i) buf[i] += bias[s + i];                                     \
      if (dy)                                                                                      \
        for (int64_t i = 0; i < m; ++i) buf[i] = gelu_grad_one(buf[i]) * simd::load(dy[s + i]);    \
      else                                                                                         \
        for (int64_t i = 0; i < m; ++i) buf[i] = gelu_one(buf[i]);                                 \
      for (int64_t i = 0; i < m; ++i) simd::store(out[s + i], buf[i]);                             \
    }                                                                                              \
  }

CLIPPO_GELU_KERNELS(generic, )
CLIPPO_GELU_KERNELS(avx2, CLIPPO_TARGET_AVX2)
CLIPPO_GELU_KERNELS(avx512, CLIPPO_TARGET_AVX512)

// Rows r0..r1 of contiguous tensors `cols` wide, T float or uint16_t (bfloat16).
template <class T>
void gelu_rows(Isa isa, const torch::Tensor& in, const float* bias, const torch::Tensor& dy, const torch::Tensor& out,
               int64_t r0, int64_t r1, int64_t cols) {
  auto ptr = [](const torch::Tensor& t) { return t.defined() ? static_cast<T*>(t.data_ptr()) : nullptr; };
  for (int64_t r = r0; r < r1; ++r) {
    const T *x = ptr(in) + r * cols, *d = dy.defined() ? ptr(dy) + r * cols : nullptr;
    T* y = ptr(out) + r * cols;
    if (isa == Isa::avx512) gelu_avx512(x, bias, d, y, cols);
    else if (isa == Isa::avx2) gelu_avx2(x, bias, d, y, cols);
    else gelu_generic(x, bias, d, y, cols);
  }
}

bool tracked(const torch::Tensor& x, const torch::Tensor& bias) {
  return torch::GradMode::is_enabled() && (x.requires_grad() || (bias.defined() && bias.requires_grad()));
}

// What the kernels take: a CPU float32 or bfloat16 x, a float32 bias along its last dimension.
bool kernel_applies(const torch::Tensor& x, const torch::Tensor& bias) {
  return x.device().is_cpu() && (x.scalar_type() == torch::kFloat || x.scalar_type() == torch::kBFloat16) &&
         x.dim() >= 1 &&
         (!bias.defined() || (bias.device().is_cpu() && bias.scalar_type() == torch::kFloat && bias.dim() == 1 &&
                              bias.size(0) == x.size(-1)));
}

// The forward pass (dy undefined) or the gradient for dy, in x's dtype; the
// forward pass into x's own memory when in_place (no new buffer: fresh tens
// of MB cost page faults).
torch::Tensor run_kernel(Isa isa, const torch::Tensor& x, const torch::Tensor& bias, const torch::Tensor& dy0,
                         bool in_place = false) {
  torch::Tensor in = x.contiguous(), b = bias.defined() ? bias.contiguous() : bias;
  torch::Tensor dy = dy0.defined() ? dy0.to(x.scalar_type()).contiguous() : dy0;
  torch::Tensor out = in_place && !dy.defined() && in.is_same(x) ? in : torch::empty_like(in);
  const int64_t n = in.numel(), cols = std::max<int64_t>(1, in.size(-1)), rows = n / cols;
  const float* bp = b.defined() ? b.data_ptr<float>() : nullptr;
  // Rows of the last dimension (the bias runs along it), ~16k elements a task.
  at::parallel_for(0, rows, std::max<int64_t>(1, (1 << 14) / cols), [&](int64_t r0, int64_t r1) {
    if (in.scalar_type() == torch::kBFloat16) gelu_rows<uint16_t>(isa, in, bp, dy, out, r0, r1, cols);
    else gelu_rows<float>(isa, in, bp, dy, out, r0, r1, cols);
  });
  return out;
}

// The kernels under autograd; `bias` holds the bias or nothing (autograd
// takes no undefined tensor). Its gradient sums x's gradient rounded to x's
// dtype (training passes no bias: its Dense adds it).
struct GeluTanhFunction : torch::autograd::Function<GeluTanhFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x, torch::TensorList bias) {
    std::vector<torch::Tensor> saved{x};
    saved.insert(saved.end(), bias.begin(), bias.end());
    ctx->save_for_backward(saved);
    return run_kernel(simd::best(), x, bias.empty() ? torch::Tensor() : bias[0], {});
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    auto saved = ctx->get_saved_variables();
    const torch::Tensor& x = saved[0];
    const torch::Tensor bias = saved.size() > 1 ? saved[1] : torch::Tensor();
    torch::Tensor dx = run_kernel(simd::best(), x, bias, grad_out[0]);
    if (!bias.defined()) return {dx};
    return {dx, bias.requires_grad() ? dx.to(torch::kFloat).reshape({-1, x.size(-1)}).sum(0) : torch::Tensor()};
  }
};

}  // namespace

torch::Tensor gelu_tanh(const torch::Tensor& x, const torch::Tensor& bias) {
  if (!kernel_applies(x, bias)) {
    // A GPU, other dtypes: torch's GELU, in float32 when the bias is, and the
    // result in x's dtype as the kernels give it: a bf16 matmul reads it.
    return torch::gelu(bias.defined() ? x + bias : x, "tanh").to(x.scalar_type());
  }
  if (!tracked(x, bias)) return run_kernel(simd::best(), x, bias, {});
  std::vector<torch::Tensor> b;
  if (bias.defined()) b.push_back(bias);
  return GeluTanhFunction::apply(x, torch::TensorList(b));
}

void gelu_tanh_(torch::Tensor& x, const torch::Tensor& bias) {
  if (!kernel_applies(x, bias) || tracked(x, bias)) {
    x = gelu_tanh(x, bias);
    return;
  }
  auto y = run_kernel(simd::best(), x, bias, {}, /*in_place=*/true);
  if (!y.is_same(x)) x = y;
}

std::vector<std::string> gelu_kernels() {
  std::vector<std::string> names;
  for (auto isa : simd::supported_isas()) names.push_back(simd::name(isa));
  return names;
}

torch::Tensor gelu_tanh_with(const std::string& kernel, const torch::Tensor& x, const torch::Tensor& bias,
                             const torch::Tensor& dy) {
  if (!kernel_applies(x, bias) || (dy.defined() && dy.sizes() != x.sizes()))
    throw Error("gelu_tanh_with: a CPU float32 or bfloat16 x, a float32 bias along its last dimension, dy as x");
  return run_kernel(simd::parse_isa(kernel), x, bias, dy);
}

}  // namespace clippo::model
