// Compile-time libtorch version tests, for the few APIs that differ between
// Debian's 1.13 and current releases.
#pragma once
#include <torch/version.h>

#define CLIPPO_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))
