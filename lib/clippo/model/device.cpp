#include "clippo/model/device.h"

#include <fmt/core.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include "clippo/cli/error.h"

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

std::string torch_build_info() {
  std::string cuda = "no CUDA";
  if (torch::cuda::is_available()) {
    const auto n = torch::cuda::device_count();
    cuda = fmt::format("CUDA with {} GPU{}", n, n == 1 ? "" : "s");
  }
  return fmt::format("libtorch {}, {}\n", TORCH_VERSION, cuda);
}

}  // namespace clippo::model
