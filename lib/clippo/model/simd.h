// For the hand-written CPU kernels of the inference path (gelu.cpp,
// residual_norm.cpp): bfloat16 conversions and the instruction sets each
// kernel is compiled for. A kernel is a function whose loops carry the target
// attribute (the compiler vectorises them for that ISA); the helpers here are
// forced inline into it.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "clippo/cli/error.h"

namespace clippo::model::simd {

#define CLIPPO_TARGET_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma")))
#define CLIPPO_TARGET_AVX2 __attribute__((target("avx2,fma")))

__attribute__((always_inline)) inline float bf16_in(uint16_t b) {
  uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

__attribute__((always_inline)) inline uint16_t bf16_out(float f) {  // round to nearest even (no NaN inputs here)
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// float32 or bfloat16 (as uint16_t) element to and from float.
__attribute__((always_inline)) inline float load(float v) { return v; }
__attribute__((always_inline)) inline float load(uint16_t v) { return bf16_in(v); }
__attribute__((always_inline)) inline void store(float& d, float v) { d = v; }
__attribute__((always_inline)) inline void store(uint16_t& d, float v) { d = bf16_out(v); }

enum class Isa { avx512, avx2, generic };

inline bool supported(Isa isa) {
  switch (isa) {
    case Isa::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
    case Isa::avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    default:
      return true;
  }
}

inline const char* name(Isa isa) { return isa == Isa::avx512 ? "avx512" : isa == Isa::avx2 ? "avx2" : "generic"; }

// What this CPU runs, best first.
inline std::vector<Isa> supported_isas() {
  std::vector<Isa> out;
  for (Isa i : {Isa::avx512, Isa::avx2, Isa::generic})
    if (supported(i)) out.push_back(i);
  return out;
}

inline Isa best() {
  static const Isa b = supported_isas().front();
  return b;
}

// The ISA called `n` ("avx512", "avx2", "generic"); throws if unknown or not
// supported here (for tests that run every kernel).
inline Isa parse_isa(const std::string& n) {
  for (Isa i : {Isa::avx512, Isa::avx2, Isa::generic})
    if (n == name(i)) {
      if (!supported(i)) throw Error("CPU kernel " + n + ": this CPU lacks it");
      return i;
    }
  throw Error("no CPU kernel named " + n);
}

}  // namespace clippo::model::simd
