// CUDA autocast state, across libtorch versions: 2.4 replaced the
// global-switch calls of 1.13 with per-device-type ones (and the old names
// warn on every call).
#pragma once
#include <c10/core/ScalarType.h>

namespace clippo::model {

struct CudaAutocast {
  bool enabled = false;
  c10::ScalarType dtype = c10::ScalarType::BFloat16;
};

CudaAutocast cuda_autocast();
void set_cuda_autocast(const CudaAutocast& state);

// bf16 autocast on CUDA for one scope (a no-op when `on` is false); restores
// the previous state and drops the cast-weight cache on exit.
class CudaAutocastScope {
 public:
  explicit CudaAutocastScope(bool on);
  ~CudaAutocastScope();
  CudaAutocastScope(const CudaAutocastScope&) = delete;
  CudaAutocastScope& operator=(const CudaAutocastScope&) = delete;

 private:
  bool on_;
  CudaAutocast before_;
};

}  // namespace clippo::model
