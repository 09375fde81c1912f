#include "clippo/model/autocast.h"

#include <ATen/autocast_mode.h>

#include "clippo/cli/error.h"
#include "clippo/model/torch_version.h"

namespace clippo::model {

namespace {
void check(c10::DeviceType device) {
  if (device != c10::DeviceType::CPU && device != c10::DeviceType::CUDA)
    throw Error("autocast: only CPU and CUDA devices are supported");
}
}  // namespace

Autocast autocast_state(c10::DeviceType device) {
  check(device);
#if CLIPPO_TORCH_AT_LEAST(2, 4)
  return {at::autocast::is_autocast_enabled(device), at::autocast::get_autocast_dtype(device)};
#else
  if (device == c10::DeviceType::CPU) return {at::autocast::is_cpu_enabled(), at::autocast::get_autocast_cpu_dtype()};
  return {at::autocast::is_enabled(), at::autocast::get_autocast_gpu_dtype()};
#endif
}

static void set_autocast_state(c10::DeviceType device, const Autocast& s) {
  check(device);
#if CLIPPO_TORCH_AT_LEAST(2, 4)
  at::autocast::set_autocast_dtype(device, s.dtype);
  at::autocast::set_autocast_enabled(device, s.enabled);
#else
  if (device == c10::DeviceType::CPU) {
    at::autocast::set_autocast_cpu_dtype(s.dtype);
    at::autocast::set_cpu_enabled(s.enabled);
  } else {
    at::autocast::set_autocast_gpu_dtype(s.dtype);
    at::autocast::set_enabled(s.enabled);
  }
#endif
}

AutocastScope::AutocastScope(c10::DeviceType device, bool on) : device_(device), on_(on) {
  if (!on_) return;
  before_ = autocast_state(device_);
  set_autocast_state(device_, {true, c10::ScalarType::BFloat16});
}

AutocastScope::~AutocastScope() {
  if (!on_) return;
  set_autocast_state(device_, before_);
  if (!before_.enabled) at::autocast::clear_cache();
}

AutocastReplay::AutocastReplay(c10::DeviceType device, const Autocast& state)
    : device_(device), before_(autocast_state(device)), cache_before_(at::autocast::is_autocast_cache_enabled()) {
  at::autocast::set_autocast_cache_enabled(false);
  set_autocast_state(device_, state);
}

AutocastReplay::~AutocastReplay() {
  set_autocast_state(device_, before_);
  at::autocast::set_autocast_cache_enabled(cache_before_);
}

}  // namespace clippo::model
