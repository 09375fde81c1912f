// Learning-rate schedules as big_vision's create_learning_rate_schedule
// computes them: a multiplier of the base lr for a 0-based step (the number
// of updates applied before this one).
#pragma once
#include <cstdint>
#include <string>

namespace clippo::train {

struct Schedule {
  std::string type = "rsqrt";  // rsqrt | cosine | linear | constant
  int64_t total_steps = 1;
  int64_t warmup_steps = 0;
  int64_t cooldown_steps = 0;
  double timescale = 10000;  // rsqrt only
  double linear_end = 0;     // linear only: the final multiplier

  // Throws UsageError for an unknown type or negative step counts.
  void validate() const;
  // The multiplier at `step` (float32 semantics are not needed: double).
  double operator()(int64_t step) const;
};

}  // namespace clippo::train
