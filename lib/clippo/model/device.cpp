#include "clippo/model/device.h"

#include <fmt/core.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include "clippo/cli/error.h"
#include "clippo/cli/log.h"

namespace clippo::model {

c10::Device torch_device(const std::string& name) {
  if (name == "cpu") return c10::kCPU;
  if (name == "cuda") {
    if (!torch::cuda::is_available())
      throw Error("--device cuda: this libtorch has no CUDA support or no GPU is visible (use --device cpu)");
    return c10::kCUDA;
  }
  throw UsageError("--device must be cpu or cuda, not '" + name + "'");
}

bool cpu_has_bf16_matmul() {
#if defined(__x86_64__) || defined(__i386__)
  return __builtin_cpu_supports("amx-bf16") || __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

void warn_unless_cpu_bf16() {
  // Without AVX-512, libtorch 1.13 runs them in its own loop, which for some
  // layouts also sums in bf16 (measured: 3.7% relative error at K=1024, 20x
  // the time of fp32, on an AVX2-only EPYC).
  if (!cpu_has_bf16_matmul())
    log::warn("--precision bf16: this CPU has no bf16 matmul instructions (AMX or AVX-512 BF16), so bf16 is slower "
              "than fp32 here, and may be less accurate than bf16 elsewhere; fp32 is the better choice");
}

std::string torch_build_info() {
  std::string cuda = "no CUDA";
  if (torch::cuda::is_available()) {
    const auto n = torch::cuda::device_count();
    cuda = fmt::format("CUDA with {} GPU{}", n, n == 1 ? "" : "s");
  }
  return fmt::format("libtorch {}, {}\n", TORCH_VERSION, cuda);
}

}  // namespace clippo::model
