#include "clippo/train/schedule.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>

#include "clippo/cli/error.h"

namespace clippo::train {

void Schedule::validate() const {
  if (type != "rsqrt" && type != "cosine" && type != "linear" && type != "constant")
    throw UsageError(fmt::format("--schedule {}: expected rsqrt, cosine, linear or constant", type));
  if (total_steps < 1) throw UsageError("--steps must be at least 1");
  if (warmup_steps < 0 || cooldown_steps < 0) throw UsageError("--warmup and --cooldown must not be negative");
  if (warmup_steps > total_steps || cooldown_steps > total_steps)
    throw UsageError(fmt::format("--warmup {} / --cooldown {} exceed --steps {}", warmup_steps, cooldown_steps,
                                 total_steps));
  // The decay starts when warm-up ends: with no step after it, every update's rate would be 0.
  if ((type == "cosine" || (type == "linear" && linear_end == 0)) && warmup_steps >= total_steps)
    throw UsageError(fmt::format("--warmup {} with --schedule {} and --steps {}: the decay starts when warm-up ends, "
                                 "so every step's learning rate would be 0; warm up for fewer steps",
                                 warmup_steps, type, total_steps));
  if (type == "rsqrt" && !(timescale > 0 && std::isfinite(timescale)))
    throw UsageError(fmt::format("--timescale {}: must be a positive number", timescale));
}

double Schedule::operator()(int64_t step) const {
  const double s = static_cast<double>(step), w = static_cast<double>(warmup_steps);
  double lr = 1.0;
  double progress = total_steps > warmup_steps ? (s - w) / static_cast<double>(total_steps - warmup_steps) : 1.0;
  progress = std::clamp(progress, 0.0, 1.0);
  if (type == "linear") {
    lr = linear_end + (1.0 - linear_end) * (1.0 - progress);
  } else if (type == "cosine") {
    lr = 0.5 * (1.0 + std::cos(M_PI * progress));
  } else if (type == "rsqrt") {
    // Flat at 1 through warm-up, then 1/sqrt(step/timescale) shifted so the
    // curve starts at 1 when warm-up ends.
    if (s > w) lr = 1.0 / std::sqrt((s + (timescale - w)) / timescale);
  }
  if (warmup_steps > 0) lr *= std::min(1.0, s / w);
  if (cooldown_steps > 0) lr *= std::min(1.0, static_cast<double>(total_steps - step) / cooldown_steps);
  return lr;
}

}  // namespace clippo::train
