// Data-parallel processes on PyTorch's c10d runtime: rendezvous through a
// TCPStore from torchrun's (or Slurm's) environment, Gloo on CPU tensors,
// NCCL on CUDA ones. A single process (no environment) is a world of one and
// every collective is a no-op.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "clippo/cli/error.h"
#include "clippo/train/dist_env.h"

namespace clippo::train {

// A collective that failed: another process has stopped or is unreachable.
class PeerLost : public Error {
 public:
  using Error::Error;
};

class Dist {
 public:
  // The rendezvous, whenever a launcher set the environment (a world of one
  // too; none for a plain single process): every rank joins rank 0's store,
  // through which share_text and gather_text pass. start() then makes the
  // process group that the collectives run in.
  explicit Dist(const DistEnv& env);
  ~Dist();
  Dist(const Dist&) = delete;
  Dist& operator=(const Dist&) = delete;

  // NCCL on the GPU of LOCAL_RANK where `cuda` and this build has it, else
  // Gloo in host memory. Throws PeerLost when another rank is gone.
  void start(bool cuda);
  // Why this build cannot train on several processes on CUDA (or the CPU);
  // empty when it can.
  static std::string missing_backend(bool cuda);

  // Where rank 0's configuration goes (share_text), or, when it cannot run,
  // its failure: tell_failure puts `text` there instead of the rendezvous,
  // and waits a few seconds for the others to read it, so that they stop at
  // once too.
  static constexpr const char* kConfigKey = "config";
  static void tell_failure(const DistEnv& env, const std::string& text);

  // Through the store, before start(); throw PeerLost when another rank is gone.
  // Rank 0's text, to every rank.
  std::string share_text(const std::string& key, const std::string& text);
  // Every rank's text, in rank order, to every rank.
  std::vector<std::string> gather_text(const std::string& key, const std::string& text);

  // Work of rank 0's alone, such as an evaluation, which may outlast a
  // collective's timeout: rank 0 calls this when done, and the others wait
  // here for it as long as it takes (throws PeerLost when rank 0 is gone),
  // telling rank 0 when `stop` (asked as they wait) says to end it early.
  // `key` is new each time.
  void wait_for_main(const std::string& key, const std::function<bool()>& stop = {});
  // On rank 0, during that work: whether another rank asked to stop it.
  bool stop_asked(const std::string& key);

  int rank() const { return env_.rank; }
  int world() const { return env_.world; }
  bool is_main() const { return env_.rank == 0; }

  // Collectives throw PeerLost when another rank is gone.
  // In place, summed over ranks: in float32, the tensors flattened into one
  // buffer per call (gradients); one tensor in its own dtype (counts in
  // int64 stay exact).
  void all_reduce_sum(std::vector<torch::Tensor>& tensors);
  void all_reduce_sum(torch::Tensor& t);
  // Concatenates every rank's x along dim 0 (all ranks pass the same shape).
  // No gradient; see all_gather_with_grad in loss.h.
  torch::Tensor all_gather(const torch::Tensor& x);
  // Rank 0's tensor to everyone, in place.
  void broadcast(torch::Tensor& t);
  void barrier();
  // Logical OR over ranks (e.g. "stop now").
  bool any(bool flag);

  // The process-group backends this build has ("gloo, nccl", "none", ...).
  static std::string backends();

 private:
  bool grouped() const;  // false for one process; a collective before start() is a bug
  DistEnv env_;
  torch::Device dev_{torch::kCPU};  // where collectives run
  struct Impl;  // c10d headers stay out of this header
  std::unique_ptr<Impl> impl_;
};

}  // namespace clippo::train
