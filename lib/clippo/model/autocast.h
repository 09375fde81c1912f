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

// A saved state for one scope without the cast-weight cache: a checkpointed
// block's recompute, on autograd's thread. Its weights are new leaves at each
// backward pass, so their cached casts would only hold memory (a thread's
// cache is dropped only where one of its AutocastScopes ends).
class AutocastReplay {
 public:
  AutocastReplay(c10::DeviceType device, const Autocast& state);
  ~AutocastReplay();
  AutocastReplay(const AutocastReplay&) = delete;
  AutocastReplay& operator=(const AutocastReplay&) = delete;

 private:
  c10::DeviceType device_;
  Autocast before_;
  bool cache_before_;
};

}  // namespace clippo::model
