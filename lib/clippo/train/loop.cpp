#include "clippo/train/loop.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdlib>

#include "clippo/cli/log.h"
#include "clippo/cli/progress.h"
#include "clippo/cli/stop.h"
#include "clippo/io/json.h"
#include "clippo/model/autocast.h"
#include "clippo/train/loss.h"
#include "clippo/train/ranks.h"

namespace fs = std::filesystem;

namespace clippo::train {

namespace {

double since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

std::string fmt_duration(double s) {
  if (!(s >= 0) || s > 1e7) return "?";
  int64_t x = static_cast<int64_t>(s);
  if (x >= 3600) return fmt::format("{}h{:02}m", x / 3600, x / 60 % 60);
  if (x >= 60) return fmt::format("{}m{:02}s", x / 60, x % 60);
  return fmt::format("{}s", x);
}

int64_t env_step(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::atoll(v) : -1;
}

}  // namespace

StepLoop::StepLoop(Started run, Reached& reached)
    : r_(std::move(run)), reached_(reached), world_(r_.dist.world()), rank_(r_.dist.rank()),
      B_(r_.cfg.batch_size / world_), total_(r_.cfg.schedule.total_steps), first_(r_.opt.count()), step_(first_),
      workdir_(r_.cfg.workdir), ckpt_path_(workdir_ / "checkpoint.npz"), skipped_before_(r_.state.skipped),
      damaged_before_(r_.state.damaged), kill_at_(env_step("CLIPPO_TRAIN_KILL_AT_STEP")),
      tty_(Progress::enabled() && r_.dist.is_main()), t_start_(Clock::now()), window_start_(t_start_) {
  if (r_.dist.is_main()) metrics_.emplace(workdir_ / "metrics.jsonl", r_.resuming ? r_.state.step : 0);
  // Rank 0 alone evaluates (the others hold no eval options): when, to all.
  if (r_.evaluator) eval_every_ = r_.cfg.eval_every;
  if (world_ > 1) {
    auto t = torch::tensor({eval_every_}, torch::kInt64);
    r_.dist.broadcast(t);
    eval_every_ = t.item<int64_t>();
  }
}

// ---- the collectives that every rank calls at the same points --------------

// The run's skipped records and damaged shard reads: every rank's, and those
// before a resume.
StepLoop::DataHealth StepLoop::data_health() {
  auto n = torch::tensor({static_cast<int64_t>(r_.loader.skipped_total()), static_cast<int64_t>(r_.loader.damaged_total())},
                         torch::kInt64);
  r_.dist.all_reduce_sum(n);
  return {skipped_before_ + static_cast<uint64_t>(n[0].item<int64_t>()),
          damaged_before_ + static_cast<uint64_t>(n[1].item<int64_t>())};
}

void StepLoop::save(int64_t step) {
  // Every rank's data position goes into rank 0's checkpoint.
  auto mine = torch::empty({DataPosition::kInts}, torch::kInt64);
  r_.state.positions[rank_].to_ints(mine.data_ptr<int64_t>());
  auto all = r_.dist.all_gather(mine).contiguous();
  const DataHealth health = data_health();
  if (r_.dist.is_main()) write_checkpoint(step, all, health);
  r_.dist.barrier();  // the others learn that rank 0 wrote it, or lose it as a peer
  reached_.saved = step;
}

void StepLoop::write_checkpoint(int64_t step, const torch::Tensor& positions, DataHealth health) {
  TrainState s;
  s.step = step;
  s.seed = static_cast<uint64_t>(r_.cfg.seed);
  s.skipped = health.skipped;
  s.damaged = health.damaged;
  for (int r = 0; r < world_; ++r)
    s.positions.push_back(DataPosition::from_ints(positions.data_ptr<int64_t>() + DataPosition::kInts * r));
  model::NpzArrays arrays = model::export_params(r_.net);
  for (auto& [k, v] : r_.opt.state()) arrays[k] = model::tensor_to_npz(v);
  put_state(arrays, s);
  model::write_npz(ckpt_path_.string(), arrays);
  if (kept(step)) keep_copy(ckpt_path_, workdir_ / fmt::format("checkpoint-{:06}.npz", step));
}

// The metrics.jsonl line (and the line on stderr) of the step just done, over
// the steps since the last one.
void StepLoop::log_step(int64_t step) {
  const auto& cfg = r_.cfg;
  const double window_t = since(window_start_);
  const double sps = window_steps_ * cfg.batch_size / std::max(window_t, 1e-9);
  const DataHealth health = data_health();
  if (r_.dist.is_main()) {
    const double n = static_cast<double>(window_steps_);
    JsonWriter w;
    w.begin_object().key("step").value(step).key("loss").value(last_loss_).key("lr").value(cfg.optim.lr * last_sched_);
    w.key("temperature").value(std::exp(r_.net->t.detach().cpu().item<double>()));
    w.key("grad_norm").value(last_gnorm_).key("samples_per_s").value(sps);
    w.key("skipped").value(health.skipped).key("damaged_reads").value(health.damaged);
    w.key("time").value(since(t_start_));
    w.key("data_s").value(t_data_ / n).key("forward_s").value(t_fwd_ / n);
    w.key("backward_s").value(t_bwd_ / n).key("optimizer_s").value(t_opt_ / n);
    w.end_object();
    try {
      metrics_->append(w.str());
    } catch (const std::exception& e) {  // (a full disk): the steps done are saved, at the next step
      failure_ = verdict(e);
    }
    if (!tty_)
      log::info("step {}/{} loss {:.4f} lr {:.3g} {:.1f} samples/s ETA {}", step, total_, last_loss_,
                cfg.optim.lr * last_sched_, sps, fmt_duration((total_ - step) * window_t / n));
  }
  t_data_ = t_fwd_ = t_bwd_ = t_opt_ = 0;
  window_steps_ = 0;
  window_start_ = Clock::now();
  logged_ = step;
}

// A rank whose batch (or metrics line) could not be made: every rank learns
// it before the next step, as it would wait for the others in its
// collectives. They keep the steps done, and stop with its error.
void StepLoop::fail_together() {
  if (!r_.dist.any(!failure_.empty())) return;
  const auto all = r_.dist.gather_text(fmt::format("failed/{}", step_), failure_);
  std::string kept;
  if (step_ > 0 && step_ != reached_.saved) try {
      save(step_);
      log_last(step_);
    } catch (const Error& e) {
      kept = fmt::format("; and the checkpoint of step {} could not be saved: {}", step_, e.what());
    }
  if (kept.empty() && reached_.saved >= 0)
    kept = fmt::format("; the checkpoint of step {} is saved to {}: run again to resume", reached_.saved,
                       r_.dist.is_main() ? ckpt_path_.string() : "rank 0's workdir");
  log::keep_status();
  for (int r = 0; r < world_; ++r)
    if (!all[r].empty()) fail_with(r, all[r] + kept, r == rank_);
}

// A run that stops early logs its last step too, after saving it.
void StepLoop::log_last(int64_t step) {
  if (step <= first_ || logged_ == step) return;
  try {
    log_step(step);
  } catch (const Error& e) {
    log::warn("{} (the checkpoint is saved)", e.what());
  }
}

int StepLoop::stop_at(int64_t step, int sig) {
  if (reached_.saved != step) save(step);  // first: what the signal's sender waits for
  log_last(step);
  log::keep_status();
  log::info("stopped by signal at step {}; checkpoint saved to {}; run again to resume", step,
            r_.dist.is_main() ? ckpt_path_.string() : "rank 0's workdir");
  // A rank stopped by another's signal exits as by SIGTERM, unless its own
  // came meanwhile (a launcher signals every rank, not at once).
  if (const int own = cli::stop_signal()) sig = own;
  return 128 + sig;
}

// A signal to any rank stops all of them, together.
int StepLoop::stop_signal() {
  const int mine = cli::stop_signal();
  return r_.dist.any(mine != 0) ? (mine ? mine : SIGTERM) : 0;
}

bool StepLoop::is_eval_step(int64_t step) const {
  return eval_every_ >= 0 && ((eval_every_ > 0 && step % eval_every_ == 0) || step == total_);
}

// Rank 0 evaluates, the others wait for it. A signal to any rank ends the
// evaluation (a preempted job has seconds to save).
void StepLoop::evaluate(int64_t step) {
  const auto t = Clock::now();
  const std::string key = fmt::format("evaluated/{}", step);
  if (r_.dist.is_main()) {
    auto stop = [&] { return cli::stop_signal() != 0 || r_.dist.stop_asked(key); };
    if (auto results = r_.evaluator->run(r_.net, 256, stop)) {
      JsonWriter w;
      w.begin_object().key("step").value(step);
      for (auto& [k, v] : *results) w.key("eval/" + k).value(v);
      w.end_object();
      metrics_->append(w.str());
      log::info("step {} eval: {}", step, w.str());
    } else {
      log::info("step {}: evaluation stopped by signal (a resume runs it)", step);
    }
  }
  r_.dist.wait_for_main(key, [] { return cli::stop_signal() != 0; });
  window_start_ += Clock::now() - t;  // its time is not the training's: samples/s leaves it out
  eval_seconds_ += since(t);
}

// ---- a step --------------------------------------------------------------------

// (The others know rank 0's checkpoint by its step.)
Error StepLoop::diverged(const char* what, double value) const {
  return Error(fmt::format("{} is {} at step {}; stopping. {}", what, value, step_ + 1,
                           reached_.saved < 0 ? std::string("No checkpoint was written yet.")
                           : fmt::format("The last checkpoint ({}, step {}) is kept: resume it with a lower --lr (if "
                                         "that diverges at once too, the model had blown up before: start from a "
                                         "kept copy, --keep-every, or anew)",
                                         r_.dist.is_main() ? ckpt_path_.string() : "rank 0's", reached_.saved)));
}

void StepLoop::train_step(const Batch& batch, double data_seconds) {
  auto& net = r_.net;
  const auto t1 = Clock::now();
  torch::Tensor x = torch::cat({batch.a, batch.b}).to(r_.dev);
  torch::Tensor z;
  {
    model::AutocastScope autocast(r_.dev.type(), r_.cfg.bf16());
    z = net->forward(x).z;
  }
  z = z.to(torch::kFloat32);
  torch::Tensor my_loss = contrastive_loss(z.slice(0, 0, B_), z.slice(0, B_, 2 * B_), net->t, &r_.dist);
  const double tf = since(t1);
  const auto t2 = Clock::now();
  net->zero_grad();
  my_loss.backward();
  std::vector<torch::Tensor> grads;
  for (auto& s : r_.specs) {
    torch::Tensor& g = s.param.mutable_grad();
    if (!g.defined()) g = torch::zeros_like(s.param);  // (no part in this loss: a zero to add up)
    grads.push_back(g);
  }
  grads.push_back(my_loss.detach().reshape({1}).clone());
  r_.dist.all_reduce_sum(grads);
  const double loss = grads.back().item<double>();
  const double tb = since(t2);
  // Nothing is updated with a loss or gradient that is not finite.
  if (!std::isfinite(loss)) throw diverged("loss", loss);
  const auto t3 = Clock::now();
  const double sched = r_.cfg.schedule(r_.opt.count());
  const double gnorm = r_.opt.step(sched);
  if (!std::isfinite(gnorm)) throw diverged("the gradient's norm", gnorm);
  reached_.step = ++step_;
  r_.state.positions[rank_] = batch.after;
  t_data_ += data_seconds, t_fwd_ += tf, t_bwd_ += tb, t_opt_ += since(t3);
  ++window_steps_;
  last_loss_ = loss, last_sched_ = sched, last_gnorm_ = gnorm;
}

void StepLoop::show_progress() {
  const double el = since(t_start_) - eval_seconds_;
  const double eta = (total_ - step_) * el / std::max<int64_t>(1, step_ - first_);
  log::show_status(fmt::format("step {}/{} loss {:.4f} {:.1f} samples/s ETA {}", step_, total_, last_loss_,
                               (step_ - first_) * r_.cfg.batch_size / std::max(el, 1e-9), fmt_duration(eta)));
  if (step_ == total_) log::keep_status();
}

// ---- the loop ------------------------------------------------------------------

int StepLoop::run() {
  const auto& cfg = r_.cfg;
  // An evaluation of the resumed step that a signal cut short (rank 0 knows).
  if (r_.dist.any(r_.evaluator && first_ > 0 && is_eval_step(first_) && !metrics_->has_eval_at(first_))) {
    log::info("step {}: evaluating the resumed checkpoint (metrics.jsonl has no evaluation of it)", first_);
    evaluate(first_);
  }
  // A signal now (during that evaluation) stops before any step.
  if (const int sig = stop_signal()) return stop_at(first_, sig);
  // For the tests: die hard at the resumed step, as a crash before its first step would.
  if (kill_at_ == first_ && first_ > 0) std::raise(SIGKILL);

  // One process stops while it waits for data too; ranks stop together,
  // after a step (the loader fails rather than wait for ever).
  auto interrupted = [&] { return world_ == 1 && cli::stop_signal() != 0; };
  while (step_ < total_) {
    const auto t0 = Clock::now();
    std::optional<Batch> next;
    try {
      next = r_.loader.next(interrupted);
    } catch (const std::exception& e) {  // bad data (or no memory for a batch)
      failure_ = verdict(e);
    }
    fail_together();
    if (!next) return stop_at(step_, cli::stop_signal());
    train_step(*next, since(t0));
    const int64_t step = step_;
    const bool last = step == total_;
    if (step % cfg.log_every == 0 || last || step == first_ + 1) log_step(step);
    if (tty_) show_progress();
    if (const int sig = stop_signal()) return stop_at(step, sig);
    // An evaluation starts from a saved step: one that fails, crashes or is
    // stopped loses none.
    const bool eval = is_eval_step(step);
    if (eval || last || kept(step) || (cfg.checkpoint_every > 0 && step % cfg.checkpoint_every == 0)) save(step);
    if (eval) {
      log::keep_status();
      evaluate(step);
      if (const int sig = stop_signal()) return stop_at(step, sig);
    }
    // For the resume test: die hard after this step, as a crash or `kill -9` would.
    if (kill_at_ == step) std::raise(SIGKILL);
  }
  fail_together();  // (the last step's metrics line)
  if (first_ >= total_) {
    log::info("{}: already at step {} of {}", workdir_.string(), first_, total_);
  } else {
    const DataHealth health = data_health();
    log::info("done: {} steps, loss {:.4f}{}{}; checkpoint {}, metrics {}", step_, last_loss_,
              health.skipped ? fmt::format(", {} unusable records skipped", health.skipped) : "",
              health.damaged ? fmt::format(", {} shard read(s) cut short by damage", health.damaged) : "",
              ckpt_path_.string(), (workdir_ / "metrics.jsonl").string());
  }
  return 0;
}

}  // namespace clippo::train
