// The step loop of a run that has started (see trainer.cpp): batches in,
// updates, metrics.jsonl, checkpoints, evaluations, and stopping together.
#pragma once
#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

#include "clippo/model/vit.h"
#include "clippo/train/checkpoint.h"
#include "clippo/train/data.h"
#include "clippo/train/dist.h"
#include "clippo/train/eval.h"
#include "clippo/train/optim.h"
#include "clippo/train/config.h"
#include "clippo/train/workdir.h"

namespace clippo::train {

// How far a run got, for the message when a peer is lost.
struct Reached {
  int64_t step = 0, saved = -1;  // steps done; the step of the last checkpoint (-1: none)
  bool shared = false;           // whether rank 0's start was shared (before, others know no step)
};

// What the start hands the loop; all of it on every rank (rank 0's model,
// optimizer and state), but for the evaluator, which rank 0 alone has.
struct Started {
  const TrainConfig& cfg;
  Dist& dist;
  model::OneTower net;
  torch::Device dev;
  std::vector<ParamSpec>& specs;
  Optimizer& opt;
  TrainState& state;
  bool resuming;
  Loader& loader;
  Evaluator* evaluator;  // null on ranks other than 0, and without --eval-data
};

class StepLoop {
 public:
  StepLoop(Started run, Reached& reached);
  // Trains to --steps. Returns 0, or 128 + the signal that stopped it (with
  // its checkpoint written).
  int run();

 private:
  using Clock = std::chrono::steady_clock;
  struct DataHealth {
    uint64_t skipped, damaged;
  };
  // One step on `batch`: forward, backward, the sums over ranks, the update.
  void train_step(const Batch& batch, double data_seconds);
  // Every rank calls these (collectives), at the same points.
  DataHealth data_health();
  void save(int64_t step);
  void log_step(int64_t step);
  void log_last(int64_t step);
  int stop_at(int64_t step, int sig);
  void fail_together();
  int stop_signal();
  void evaluate(int64_t step);
  bool kept(int64_t step) const { return r_.cfg.keep_every > 0 && step % r_.cfg.keep_every == 0; }
  bool is_eval_step(int64_t step) const;
  void write_checkpoint(int64_t step, const torch::Tensor& positions, DataHealth health);
  Error diverged(const char* what, double value) const;
  void show_progress();

  Started r_;
  Reached& reached_;
  const int world_, rank_;
  const int64_t B_, total_, first_;
  int64_t step_;
  const std::filesystem::path workdir_, ckpt_path_;
  std::optional<MetricsLog> metrics_;  // rank 0's
  const uint64_t skipped_before_, damaged_before_;  // by the run before a resume
  int64_t eval_every_ = -1;  // as rank 0 evaluates: 0 after the last step only; -1 never
  const int64_t kill_at_;    // CLIPPO_TRAIN_KILL_AT_STEP, for the resume tests
  const bool tty_;
  // Since the last metrics line.
  Clock::time_point t_start_, window_start_;
  double t_data_ = 0, t_fwd_ = 0, t_bwd_ = 0, t_opt_ = 0, eval_seconds_ = 0;
  int64_t window_steps_ = 0, logged_ = -1;  // the last step with a metrics.jsonl line
  double last_loss_ = 0, last_sched_ = 0, last_gnorm_ = 0;
  std::string failure_;  // this rank's, as a verdict (ranks.h), told to all before the next step
};

}  // namespace clippo::train
