// The training checkpoint: big_vision's params/... (so big_vision and
// clippo-embed read it), this optimizer's opt/..., and state/... for resume
// (step, data position per rank, seed). One .npz, written atomically.
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "clippo/model/npz.h"
#include "clippo/train/data.h"

namespace clippo::train {

struct TrainState {
  int64_t step = 0;
  uint64_t seed = 0;
  std::vector<DataPosition> positions;  // one per rank
  uint64_t skipped = 0;                   // unusable records skipped by all ranks so far
  uint64_t damaged = 0;                   // shard reads damage cut short, by all ranks so far
};

void put_state(model::NpzArrays& out, const TrainState& s);
// Throws Error naming the checkpoint when state/... is missing or malformed.
TrainState get_state(const model::NpzArrays& in, const std::string& where);

}  // namespace clippo::train
