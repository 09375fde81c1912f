// GELU with the tanh approximation for inference on CPU, optionally with the
// bias of the Dense before it added in the same pass. libtorch 1.13's own
// kernel took a third of a bf16 B/16 forward pass; this one evaluates tanh
// through a Cephes-style expf written so that the compiler vectorises it
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

// out[i] = gelu(in[i] + bias[i]) over one row (bias may be null), T float
// or bfloat16 (uint16_t); in place when out == in. Through a float buffer so
// the arithmetic loop vectorises the same for both types.
#define CLIPPO_GELU_KERNEL(suffix, attr)                                                    \
  template <class T>                                                                        \
  attr void gelu_##suffix(const T* in, const float* bias, T* out, int64_t n) {             \
    constexpr int64_t kBlock = 256;                                                         \
    float buf[kBlock];                                                                      \
    for (int64_t s = 0; s < n; s += kBlock) {                                               \
      int64_t m = std::min(kBlock, n - s);                                                  \
      for (int64_t i = 0; i < m; ++i) buf[i] = simd::load(in[s + i]);                       \
      if (bias)                                                                             \
        for (int64_t i = 0; i < m; ++i) buf[i] = gelu_one(buf[i] + bias[s + i]);            \
      else                                                                                  \
        for (int64_t i = 0; i < m; ++i) buf[i] = gelu_one(buf[i]);                          \
      for (int64_t i = 0; i < m; ++i) simd::store(out[s + i], buf[i]);                      \
    }                                                                                       \
  }

CLIPPO_GELU_KERNEL(generic, )
CLIPPO_GELU_KERNEL(avx2, CLIPPO_TARGET_AVX2)
CLIPPO_GELU_KERNEL(avx512, CLIPPO_TARGET_AVX512)

template <class T>
void gelu_row(Isa isa, const T* in, const float* bias, T* out, int64_t n) {
  if (isa == Isa::avx512) gelu_avx512(in, bias, out, n);
  else if (isa == Isa::avx2) gelu_avx2(in, bias, out, n);
  else gelu_generic(in, bias, out, n);
}

// Into x itself when in_place (no new buffer: fresh tens of MB cost page faults).
torch::Tensor run(Isa isa, const torch::Tensor& x, const torch::Tensor& bias, bool in_place = false) {
  const bool has_bias = bias.defined();
  bool fast = x.device().is_cpu() && !(torch::GradMode::is_enabled() && (x.requires_grad() || (has_bias && bias.requires_grad()))) &&
              (x.scalar_type() == torch::kFloat || x.scalar_type() == torch::kBFloat16) && x.dim() >= 1 &&
              (!has_bias || (bias.device().is_cpu() && bias.scalar_type() == torch::kFloat && bias.dim() == 1 &&
                             bias.size(0) == x.size(-1)));
  // Elsewhere (a GPU, autograd) torch's GELU, in float32 when the bias is,
  // and the result in x's dtype as the kernels give it: a bf16 matmul reads it.
  // On CPU bf16 in float32 too: libtorch 1.13's CPU kernel rounds to bf16 after
  // each step (a third of its results 1 ulp off), and bf16 training would
  // then recompute other activations than its no-grad forward pass made.
  if (!fast) {
    auto in = has_bias ? x + bias : x;
    if (in.device().is_cpu() && in.scalar_type() == torch::kBFloat16) in = in.to(torch::kFloat);
    return torch::gelu(in, "tanh").to(x.scalar_type());
  }
  torch::Tensor in = x.contiguous(), b = has_bias ? bias.contiguous() : bias;
  torch::Tensor out = in_place && in.is_same(x) ? in : torch::empty_like(in);
  const int64_t n = in.numel(), cols = std::max<int64_t>(1, in.size(-1)), rows = n / cols;
  const float* bp = has_bias ? b.data_ptr<float>() : nullptr;
  // Rows of the last dimension (the bias runs along it), ~16k elements a task.
  at::parallel_for(0, rows, std::max<int64_t>(1, (1 << 14) / cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      if (in.scalar_type() == torch::kBFloat16)
        gelu_row(isa, reinterpret_cast<const uint16_t*>(in.data_ptr()) + r * cols, bp,
                 reinterpret_cast<uint16_t*>(out.data_ptr()) + r * cols, cols);
      else
        gelu_row(isa, in.data_ptr<float>() + r * cols, bp, out.data_ptr<float>() + r * cols, cols);
    }
  });
  return out;
}

}  // namespace

torch::Tensor gelu_tanh(const torch::Tensor& x, const torch::Tensor& bias) { return run(simd::best(), x, bias); }

void gelu_tanh_(torch::Tensor& x, const torch::Tensor& bias) {
  auto y = run(simd::best(), x, bias, /*in_place=*/true);
  if (!y.is_same(x)) x = y;
}

std::vector<std::string> gelu_kernels() {
  std::vector<std::string> names;
  for (auto isa : simd::supported_isas()) names.push_back(simd::name(isa));
  return names;
}

torch::Tensor gelu_tanh_with(const std::string& kernel, const torch::Tensor& x, const torch::Tensor& bias) {
  return run(simd::parse_isa(kernel), x, bias);
}

}  // namespace clippo::model
