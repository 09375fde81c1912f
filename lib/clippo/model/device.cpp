#include "clippo/model/device.h"

#include <torch/cuda.h>

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

}  // namespace clippo::model
