#include "clippo/train/checkpoint.h"

#include <fmt/core.h>

#include <cstring>

#include "clippo/cli/error.h"
#include "clippo/model/vit.h"

namespace clippo::train {

using model::npz_to_tensor;
using model::tensor_to_npz;

void put_state(model::NpzArrays& out, const TrainState& s) {
  const int64_t w = static_cast<int64_t>(s.positions.size());
  auto de = torch::empty({w}, torch::kInt64), dd = torch::empty({w}, torch::kInt64);
  auto pe = torch::empty({w}, torch::kInt64), pd = torch::empty({w}, torch::kInt64);
  for (int64_t r = 0; r < w; ++r) {
    de[r] = s.positions[r].data.epoch;
    dd[r] = s.positions[r].data.drawn;
    pe[r] = s.positions[r].pairs.epoch;
    pd[r] = s.positions[r].pairs.drawn;
  }
  out["state/step"] = tensor_to_npz(torch::tensor({s.step}, torch::kInt64));
  out["state/seed"] = tensor_to_npz(torch::tensor({static_cast<int64_t>(s.seed)}, torch::kInt64));
  out["state/data_epoch"] = tensor_to_npz(de);
  out["state/data_drawn"] = tensor_to_npz(dd);
  out["state/pairs_epoch"] = tensor_to_npz(pe);
  out["state/pairs_drawn"] = tensor_to_npz(pd);
  out["state/skipped"] = tensor_to_npz(torch::tensor({static_cast<int64_t>(s.skipped)}, torch::kInt64));
  out["state/damaged"] = tensor_to_npz(torch::tensor({static_cast<int64_t>(s.damaged)}, torch::kInt64));
}

TrainState get_state(const model::NpzArrays& in, const std::string& where) {
  auto get = [&](const std::string& k) {
    auto it = in.find(k);
    if (it == in.end()) throw Error(fmt::format("{}: no {} (not a clippo-train checkpoint?)", where, k));
    return npz_to_tensor(it->second).to(torch::kInt64).reshape(-1);
  };
  TrainState s;
  s.step = get("state/step")[0].item<int64_t>();
  s.seed = static_cast<uint64_t>(get("state/seed")[0].item<int64_t>());
  auto de = get("state/data_epoch"), dd = get("state/data_drawn");
  auto pe = get("state/pairs_epoch"), pd = get("state/pairs_drawn");
  int64_t w = de.numel();
  if (dd.numel() != w || pe.numel() != w || pd.numel() != w)
    throw Error(fmt::format("{}: state/ data positions disagree in length", where));
  for (int64_t r = 0; r < w; ++r)
    s.positions.push_back({{de[r].item<int64_t>(), dd[r].item<int64_t>()}, {pe[r].item<int64_t>(), pd[r].item<int64_t>()}});
  // Absent from checkpoints written before they were counted.
  if (in.count("state/skipped")) s.skipped = static_cast<uint64_t>(get("state/skipped")[0].item<int64_t>());
  if (in.count("state/damaged")) s.damaged = static_cast<uint64_t>(get("state/damaged")[0].item<int64_t>());
  return s;
}

}  // namespace clippo::train
