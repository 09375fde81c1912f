#include "clippo/train/ranks.h"

#include <fmt/core.h>

#include "clippo/cli/error.h"

namespace clippo::train {

std::string verdict(const std::exception& e) {
  // (libtorch's errors carry a stack trace in what(): not for the user.)
  const auto* torch_error = dynamic_cast<const c10::Error*>(&e);
  std::string v = dynamic_cast<const UsageError*>(&e) ? "2" : "1";
  return v += torch_error ? torch_error->what_without_backtrace() : e.what();
}

std::string verdict_of(const std::function<void()>& check) {
  try {
    check();
    return "";
  } catch (const std::exception& e) {  // a filesystem_error too: the others must hear of it
    return verdict(e);
  }
}

void fail_with(int rank, const std::string& verdict, bool own) {
  const std::string what = verdict.substr(1);
  // Another rank's error is named as its, unless it says so ("rank 1 was given ...").
  const bool named = own || what.starts_with(fmt::format("rank {} ", rank));
  const std::string msg = named ? what : fmt::format("rank {}: {}", rank, what);
  if (verdict[0] == '2') throw UsageError(msg);
  throw Error(msg);
}

void agree_or_fail(Dist& dist, const std::string& key, const std::string& verdict) {
  const auto all = dist.gather_text(key, verdict);
  for (size_t r = 0; r < all.size(); ++r)
    if (!all[r].empty()) fail_with(static_cast<int>(r), all[r], static_cast<int>(r) == dist.rank());
}

namespace {

// In place from rank 0. bfloat16 goes as its bits (Gloo broadcasts no bf16).
void broadcast_bits(Dist& dist, torch::Tensor t) {
  if (t.scalar_type() == torch::kBFloat16) t = t.view(torch::kHalf);
  dist.broadcast(t);
}

}  // namespace

void share_start(Dist& dist, model::OneTower& net, Optimizer& opt, TrainState& state, bool& resuming) {
  if (dist.world() == 1) return;
  torch::NoGradGuard no_grad;
  for (auto& p : net->parameters()) broadcast_bits(dist, p.detach());
  for (auto& b : net->buffers()) broadcast_bits(dist, b.detach());
  // The state's scalars and every rank's data position.
  const int world = dist.world();
  std::vector<int64_t> row{resuming, state.step, static_cast<int64_t>(state.seed), static_cast<int64_t>(state.skipped),
                           static_cast<int64_t>(state.damaged)};
  state.positions.resize(world);
  for (const auto& p : state.positions) {
    row.resize(row.size() + DataPosition::kInts);
    p.to_ints(row.data() + row.size() - DataPosition::kInts);
  }
  auto t = torch::tensor(row, torch::kInt64);
  dist.broadcast(t);
  const int64_t* at = t.data_ptr<int64_t>();
  resuming = at[0] != 0;
  state.step = at[1];
  state.seed = static_cast<uint64_t>(at[2]);
  state.skipped = static_cast<uint64_t>(at[3]);
  state.damaged = static_cast<uint64_t>(at[4]);
  for (int r = 0; r < world; ++r) state.positions[r] = DataPosition::from_ints(at + 5 + DataPosition::kInts * r);
  // The optimizer's moments (zeros for a new run) and its step count.
  auto moments = opt.state();
  for (auto& [name, m] : moments) broadcast_bits(dist, m);
  opt.load_state(moments);
}

}  // namespace clippo::train
