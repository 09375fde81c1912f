#include "clippo/model/autocast.h"

#include <ATen/autocast_mode.h>

#include "clippo/model/torch_version.h"

namespace clippo::model {

CudaAutocast cuda_autocast() {
#if CLIPPO_TORCH_AT_LEAST(2, 4)
  return {at::autocast::is_autocast_enabled(at::kCUDA), at::autocast::get_autocast_dtype(at::kCUDA)};
#else
  return {at::autocast::is_enabled(), at::autocast::get_autocast_gpu_dtype()};
#endif
}

void set_cuda_autocast(const CudaAutocast& s) {
#if CLIPPO_TORCH_AT_LEAST(2, 4)
  at::autocast::set_autocast_dtype(at::kCUDA, s.dtype);
  at::autocast::set_autocast_enabled(at::kCUDA, s.enabled);
#else
  at::autocast::set_autocast_gpu_dtype(s.dtype);
  at::autocast::set_enabled(s.enabled);
#endif
}

CudaAutocastScope::CudaAutocastScope(bool on) : on_(on) {
  if (!on_) return;
  before_ = cuda_autocast();
  set_cuda_autocast({true, c10::ScalarType::BFloat16});
}

CudaAutocastScope::~CudaAutocastScope() {
  if (!on_) return;
  set_cuda_autocast(before_);
  if (!before_.enabled) at::autocast::clear_cache();
}

}  // namespace clippo::model
