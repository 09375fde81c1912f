// The optimizer's settings (no torch here: clippo-train's main and the
// config file code read them).
#pragma once
#include <cstdint>
#include <string>

namespace clippo::train {

struct OptimConfig {
  std::string name = "adafactor";  // adafactor | adamw
  double lr = 1e-3;
  double wd = 1e-4;
  double clip_norm = 1.0;  // 0 = off
  double momentum = 0.9;  // Adafactor's (bfloat16, no debiasing), or AdamW's beta1
  // Adafactor (big_vision scale_by_adafactor)
  double decay_rate = 0.8, beta2_cap = 0.999, eps = 1e-30;
  int64_t min_dim_size_to_factor = 32;
  // AdamW
  double b2 = 0.999, adam_eps = 1e-8;

  void validate() const;
};

}  // namespace clippo::train
