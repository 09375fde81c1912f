// The torch device a --device option names.
#pragma once
#include <c10/core/Device.h>

#include <string>

namespace clippo::model {

// "cpu" or "cuda". Throws Error when cuda is asked for and this libtorch has
// no CUDA or sees no GPU (never a silent CPU fall-back), UsageError for
// another name.
c10::Device torch_device(const std::string& name);

// Whether this CPU has bfloat16 matmul instructions (AMX or AVX-512 BF16).
// Without them oneDNN emulates bf16 (or libtorch falls back to its own slow
// kernels), and bf16 can be slower than float32.
bool cpu_has_bf16_matmul();
// --precision bf16 on such a CPU: a warning of what it costs.
void warn_unless_cpu_bf16();

// "libtorch 2.11.0, CUDA with 1 GPU\n" or "libtorch 1.13.0, no CUDA\n"
// (for --version).
std::string torch_build_info();

}  // namespace clippo::model
