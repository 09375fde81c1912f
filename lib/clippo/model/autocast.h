// bf16 autocast state of one device type (CPU or CUDA), across libtorch
// versions: 2.4 replaced 1.13's per-device function names with calls that
// take the device type (and the old names warn on every call).
#pragma once
#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>

namespace clippo::model {

struct Autocast {
  bool enabled = false;
  c10::ScalarType dtype = c10::ScalarType::BFloat16;
};

Autocast autocast_state(c10::DeviceType device);
void set_autocast_state(c10::DeviceType device, const Autocast& state);

// bf16 autocast on `device` for one scope (a no-op when `on` is false);
// restores the previous state and drops the cast-weight cache on exit.
class AutocastScope {
 public:
  AutocastScope(c10::DeviceType device, bool on);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  c10::DeviceType device_;
  bool on_;
  Autocast before_;
};

}  // namespace clippo::model
