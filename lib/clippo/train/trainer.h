// clippo-train's run: model, data, optimizer, schedule, workdir and the
// step loop, single- or multi-process.
#pragma once
#include <string>
#include <vector>

#include "clippo/train/config.h"

namespace clippo::train {

// Runs (or resumes) the run in --workdir: the command line's options (cli),
// those of them given (`given`: option names). Rank 0 alone reads and writes
// the workdir; the other processes run its configuration and start from its
// model and optimizer state, so they need no shared file system. Returns the
// exit status: 0 when the last step is done, 128 + signal when stopped by
// one (after checkpointing, once training started). Throws Error for a NaN
// loss (the last checkpoint is kept).
int train(const TrainConfig& cli, const std::vector<std::string>& given);

// For --version: the libtorch, its CUDA devices, the multi-process backends.
std::string build_info();

}  // namespace clippo::train
