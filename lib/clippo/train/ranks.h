// What the processes of one run settle before training, so that only rank 0
// needs the workdir: whether every rank can run rank 0's configuration, and
// rank 0's model, optimizer and training state for all of them.
#pragma once
#include <functional>
#include <string>

#include "clippo/model/vit.h"
#include "clippo/cli/error.h"
#include "clippo/train/checkpoint.h"
#include "clippo/train/dist.h"
#include "clippo/train/optim.h"

namespace clippo::train {

// An error kept to tell the other ranks: its exit status ('1', or '2' for a
// UsageError), then its message.
std::string verdict(const std::exception& e);
// What `check` threw on this rank, as a verdict ("" when it passed).
std::string verdict_of(const std::function<void()>& check);
// Throws rank's verdict here, named as that rank's unless it is this one's (`own`).
[[noreturn]] void fail_with(int rank, const std::string& verdict, bool own = false);

// Every rank's verdict, through the store under `key` (one key a round):
// the first failure is thrown on every rank (a UsageError as one), so all
// of them stop and say why.
void agree_or_fail(Dist& dist, const std::string& key, const std::string& verdict);

// Rank 0's parameters, optimizer state and training state (fresh, --init or
// its checkpoint) to every rank, and whether it resumes. A collective.
void share_start(Dist& dist, model::OneTower& net, Optimizer& opt, TrainState& state, bool& resuming);

}  // namespace clippo::train
