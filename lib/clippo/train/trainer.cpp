#include "clippo/train/trainer.h"

#include <fmt/core.h>
#include <fmt/ranges.h>  // fmt::join
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <map>
#include <optional>

#include <ATen/Context.h>

#include "clippo/cli/log.h"
#include "clippo/cli/progress.h"
#include "clippo/cli/stop.h"
#include "clippo/io/atomic_file.h"
#include "clippo/io/json.h"
#include "clippo/model/autocast.h"
#include "clippo/model/device.h"
#include "clippo/model/vit.h"
#include "clippo/train/checkpoint.h"
#include "clippo/train/dist.h"
#include "clippo/train/eval.h"
#include "clippo/train/loss.h"
#include "clippo/train/optim.h"
#include "clippo/train/ranks.h"
#include "clippo/train/start.h"
#include "clippo/train/workdir.h"

namespace fs = std::filesystem;

namespace clippo::train {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string fmt_duration(double s) {
  if (!(s >= 0) || s > 1e7) return "?";
  int64_t x = static_cast<int64_t>(s);
  if (x >= 3600) return fmt::format("{}h{:02}m", x / 3600, x / 60 % 60);
  if (x >= 60) return fmt::format("{}m{:02}s", x / 60, x % 60);
  return fmt::format("{}s", x);
}

// How far a run got, for the message when a peer is lost.
struct Reached {
  int64_t step = 0, saved = -1;  // steps done; the step of the last checkpoint (-1: none)
  bool shared = false;           // whether rank 0's start was shared (before, others know no step)
};

int run(const TrainConfig& cli, const std::vector<std::string>& given, Reached& reached);

}  // namespace

// ---- the run -----------------------------------------------------------------

std::string build_info() {
  return model::torch_build_info() + "multi-process: " + Dist::backends() + "\n";
}

int train(const TrainConfig& cli, const std::vector<std::string>& given) {
  Reached reached;
  try {
    return run(cli, given, reached);
  } catch (const PeerLost& e) {
    if (!reached.shared) throw Error(fmt::format("before training started: {}", e.what()));
    throw Error(fmt::format("after step {}: {}. Run the same command on every rank to {}", reached.step, e.what(),
                            reached.saved >= 0 ? fmt::format("resume from the checkpoint of step {}", reached.saved)
                                               : std::string("start again (no checkpoint was written)")));
  }
}

namespace {

int run(const TrainConfig& command_line, const std::vector<std::string>& given, Reached& reached) {
  DistEnv env = dist_env_from_environment();
  const auto was_given = [&](const char* option) { return std::find(given.begin(), given.end(), option) != given.end(); };
  TrainConfig cli = command_line;
  if (!was_given("threads")) cli.threads = default_threads(env);
  // Other ranks say only what is wrong (all with -v), under their rank.
  if (env.rank != 0) {
    log::set_program(fmt::format("{} (rank {})", log::program(), env.rank));
    if (log::level() < log::kVerbose) log::set_level(std::min<int>(log::level(), log::kWarnings));
  }
  // Caught from the start, also where the process began with SIGINT ignored
  // (a background job of a script): until training starts, a signal ends the
  // run at once, as there is nothing to save yet.
  cli::catch_stop_signals(cli::kSecondSignalKills | cli::kHangupStops);
  // (Ended also when start-up fails: its error is what to tell.)
  cli::StopAtOnce starting(log::program().c_str(), "before training started (nothing to save)");

  // Rank 0 alone reads the workdir, before the rendezvous, so a mistake
  // there fails at once; the others run its configuration.
  TrainConfig cfg;
  DataConfig dc;
  std::vector<std::string> eval_files;
  if (env.rank == 0) try {
    cfg = resolve_config(cli, given);
    // A folder or pattern of a resumed run that names other files now, or
    // files rewritten since: the saved position is over the old ones.
    if (const std::string now = prepare(cfg, env, dc, eval_files); cfg.data_files != now) {
      if (!cfg.data_files.empty() && !TrainConfig::describes_files(cfg.data_files, dc.data, dc.text_pairs))
        log::warn("--data / --text-pairs name other files, or files of other sizes, than when this run last started "
                  "({} then, {} now): the data order from here on is not an uninterrupted run's",
                  cfg.data_files, now);
      cfg.data_files = now;
    }
  } catch (const std::exception& e) {
    Dist::tell_failure(env, verdict(e));  // the others would wait for the rendezvous
    throw;
  }
  Dist dist(env);
  const std::string main_config = dist.share_text(Dist::kConfigKey, env.rank == 0 ? cfg.to_json() : "");
  if (!main_config.starts_with('{')) fail_with(0, main_config);  // rank 0 could not start
  // Replicas of one model run one configuration on the same files: a rank
  // given other options (a mistyped --lr) would mean another run.
  agree_or_fail(dist, "options", env.rank == 0 ? "" : verdict_of([&] {
    std::vector<std::string> differing;
    cfg = adopt_main_config(main_config, cli, given, differing);
    if (!differing.empty())
      throw UsageError(fmt::format("rank {} was given other options than rank 0 ({}): an option given to any rank "
                                   "must have rank 0's value (all but --workdir, --threads, --data-threads and the "
                                   "--eval options)",
                                   env.rank, fmt::join(differing, ", ")));
    if (const std::string now = prepare(cfg, env, dc, eval_files); now != cfg.data_files)
      throw Error(fmt::format("--data / --text-pairs name other files, or files of other sizes, here than on rank "
                              "0 ({} here, {} there): every rank reads the same files",
                              now, cfg.data_files));
  }));
  const bool cuda = cfg.device == "cuda";
  dist.start(cuda);
  const int world = dist.world(), rank = dist.rank();
  const int64_t B = cfg.batch_size / world;
  // fp32 means float32 products on a GPU too, not TF32 ones.
  if (cuda && !cfg.bf16()) at::globalContext().setAllowTF32CuBLAS(false);
  if (!cuda && cfg.bf16() && dist.is_main()) model::warn_unless_cpu_bf16();
  torch::set_num_threads(cfg.threads);
  const int data_threads = cfg.data_threads > 0 ? cfg.data_threads : std::max(1, cfg.threads);
  const auto mc = cfg.model();
  fs::path workdir = cfg.workdir;
  fs::path ckpt_path = workdir / "checkpoint.npz";

  // Model: fresh, --init, or the workdir's checkpoint (rank 0's, for all).
  model::OneTower net(mc);
  net->reset_parameters(cfg.seed);
  net->set_grad_checkpointing(cfg.grad_checkpointing);
  torch::Device dev = cuda ? torch::Device(torch::kCUDA, env.local_rank) : torch::Device(torch::kCPU);
  std::vector<ParamSpec> specs;
  for (auto& item : net->named_parameters(false)) specs.push_back(param_spec(item.key(), item.value()));
  bool resuming = false;
  TrainState state;
  state.seed = cfg.seed;
  state.positions.assign(world, DataPosition{});
  model::NpzArrays ckpt;
  std::optional<WorkdirLock> lock;
  std::unique_ptr<Evaluator> evaluator;
  // What fails at the start is told to every rank before they wait on each
  // other in a collective: what rank 0 alone reads and writes (the lock, its
  // checkpoint or --init, the eval records, config.json), and any rank's
  // own set-up (a GPU out of memory).
  std::string start_failure;
  auto on_rank = [&](bool mine, const std::function<void()>& step) {
    if (!mine || !start_failure.empty()) return;
    if (world == 1) return step();
    start_failure = verdict_of(step);
  };
  auto on_main = [&](const std::function<void()>& step) { on_rank(dist.is_main(), step); };
  on_main([&] {
    // One run in a workdir at a time: locked before its checkpoint is read
    // (or, for a new run, once the workdir is made).
    if (fs::exists(workdir)) lock.emplace(workdir);
    resuming = fs::exists(ckpt_path);
    if (resuming) {
      ckpt = model::read_npz(ckpt_path.string());
      const model::LoadReport rep = model::load_params(net, ckpt, ckpt_path.string());
      // (A model shallower than the run's, when config.json was lost.)
      const auto lacking = std::find_if(rep.skipped.begin(), rep.skipped.end(),
                                        [](const std::string& n) { return n.starts_with("params/"); });
      if (lacking != rep.skipped.end())
        throw Error(fmt::format("{}: array '{}' has no place in a {} model: was it written with other --variant "
                                "options?",
                                ckpt_path.string(), *lacking, mc.variant()));
      state = get_state(ckpt, ckpt_path.string());
      // config.json lost: the checkpoint knows the run's seed.
      if (state.seed != static_cast<uint64_t>(cfg.seed)) {
        if (was_given("seed"))
          throw UsageError(fmt::format("--seed {}: {} was written by a run with --seed {}", cfg.seed,
                                       ckpt_path.string(), state.seed));
        log::info("{}: seed {}, the checkpoint's", ckpt_path.string(), state.seed);
        cfg.seed = static_cast<int64_t>(state.seed);
      }
      if (static_cast<int>(state.positions.size()) != world) {
        log::warn("{} was written by {} processes, this run has {}: data restarts at the saved epochs",
                  ckpt_path.string(), state.positions.size(), world);
        DataPosition p0 = state.positions.empty() ? DataPosition{} : state.positions[0];
        p0.data.drawn = p0.pairs.drawn = 0;
        state.positions.assign(world, p0);
      }
    } else if (!cfg.init.empty()) {
      load_init(net, cfg, mc, true);
    }
  });
  std::optional<Optimizer> optimizer;
  on_rank(true, [&] {
    net->to(dev);
    for (auto& s : specs) s.param = net->param(s.name);
    optimizer.emplace(cfg.optim, specs);
  });
  on_main([&] {
    Optimizer& opt = *optimizer;
    if (resuming) {
      std::map<std::string, torch::Tensor> o;
      for (auto& [k, v] : ckpt)
        if (k.rfind("opt/", 0) == 0) o[k] = model::npz_to_tensor(v).to(dev);
      try {
        opt.load_state(o);
      } catch (const Error& e) {
        throw Error(fmt::format("{}: {}: was it written with other --variant, --res or --optimizer options?",
                                ckpt_path.string(), e.what()));
      }
      if (opt.count() != state.step)
        throw Error(fmt::format("{}: opt/count {} disagrees with state/step {}", ckpt_path.string(), opt.count(),
                                state.step));
      if (cfg.schedule.total_steps < state.step)
        throw UsageError(fmt::format("--steps {}: {} is at step {} already", cfg.schedule.total_steps,
                                     workdir.string(), state.step));
      log::info("resuming {} at step {}", workdir.string(), state.step);
    }
    ckpt.clear();
    // The eval records are read before config.json is written: a resume whose
    // new eval options fail leaves the saved ones in place.
    if (!cfg.eval_data.empty()) {
      EvalConfig ec;
      ec.files = eval_files;
      ec.res = mc.res, ec.fonts = cfg.fonts, ec.size = cfg.eval_size;
      ec.classes = cfg.eval_classes, ec.prompts = cfg.eval_prompts, ec.bf16 = cfg.bf16();
      ec.on_error = cfg.on_error;
      evaluator = std::make_unique<Evaluator>(ec);
    }
    fs::create_directories(workdir);
    if (!lock) {
      lock.emplace(workdir);
      // Another run may have made this workdir and trained in it meanwhile.
      if (!resuming && fs::exists(ckpt_path))
        throw Error(fmt::format("{}: another clippo-train wrote a checkpoint here while this one started; run "
                                "again to resume it",
                                workdir.string()));
    }
    remove_stale_temporaries(workdir);
    write_file_atomic((workdir / "config.json").string(), cfg.to_json());
  });
  agree_or_fail(dist, "start", start_failure);
  Optimizer& opt = *optimizer;
  share_start(dist, net, opt, state, resuming);
  cfg.seed = static_cast<int64_t>(state.seed);
  reached.shared = true;
  if (resuming) reached.step = reached.saved = state.step;
  if (state.step < cfg.schedule.total_steps) {
    const int64_t n = mc.num_params();
    log::info("training {} at {} px ({} parameters) on {} in {}, batch {}{}, {} steps", mc.variant(), mc.res,
              n >= 1000000 ? fmt::format("{:.1f}M", static_cast<double>(n) / 1e6) : std::to_string(n), cfg.device,
              cfg.bf16() ? "bf16" : "fp32", cfg.batch_size,
              world > 1 ? fmt::format(" ({} processes x {})", world, B) : "", cfg.schedule.total_steps);
  }

  dc.text_pair_fraction = cfg.text_pair_fraction;
  dc.batch_size = static_cast<int>(B);
  dc.res = mc.res;
  dc.fonts = cfg.fonts;
  dc.shuffle_buffer = cfg.shuffle_buffer;
  dc.seed = cfg.seed;
  dc.threads = data_threads;
  dc.on_error = cfg.on_error;
  dc.rank = rank;
  dc.world = world;
  Loader loader(dc, state.positions[rank]);
  starting.end();

  std::optional<MetricsLog> metrics;
  if (dist.is_main()) metrics.emplace(workdir / "metrics.jsonl", resuming ? state.step : 0);

  // The run's skipped records and damaged shard reads: every rank's, and
  // those before a resume. A collective: every rank calls it at the same points.
  const uint64_t skipped_before = state.skipped, damaged_before = state.damaged;
  struct DataHealth {
    uint64_t skipped, damaged;
  };
  auto data_health = [&] {
    auto n = torch::tensor({static_cast<int64_t>(loader.skipped_total()), static_cast<int64_t>(loader.damaged_total())},
                           torch::kInt64);
    dist.all_reduce_sum(n);
    return DataHealth{skipped_before + static_cast<uint64_t>(n[0].item<int64_t>()),
                      damaged_before + static_cast<uint64_t>(n[1].item<int64_t>())};
  };

  auto kept = [&](int64_t step) { return cfg.keep_every > 0 && step % cfg.keep_every == 0; };
  auto write_checkpoint = [&](int64_t step, const torch::Tensor& all, DataHealth health) {
    TrainState s;
    s.step = step;
    s.seed = cfg.seed;
    s.skipped = health.skipped;
    s.damaged = health.damaged;
    for (int r = 0; r < world; ++r) s.positions.push_back(DataPosition::from_ints(all.data_ptr<int64_t>() + DataPosition::kInts * r));
    model::NpzArrays arrays = model::export_params(net);
    for (auto& [k, v] : opt.state()) arrays[k] = model::tensor_to_npz(v);
    put_state(arrays, s);
    model::write_npz(ckpt_path.string(), arrays);
    if (kept(step)) keep_copy(ckpt_path, workdir / fmt::format("checkpoint-{:06}.npz", step));
  };
  auto save = [&](int64_t step) {
    // Every rank's data position goes into rank 0's checkpoint.
    auto mine = torch::empty({DataPosition::kInts}, torch::kInt64);
    state.positions[rank].to_ints(mine.data_ptr<int64_t>());
    auto all = dist.all_gather(mine).contiguous();
    const DataHealth health = data_health();
    if (dist.is_main()) write_checkpoint(step, all, health);
    dist.barrier();  // the others learn that rank 0 wrote it, or lose it as a peer
    reached.saved = step;
  };

  const int64_t total = cfg.schedule.total_steps;
  int64_t step = opt.count();
  const int64_t first = step;
  auto t_start = Clock::now();
  double t_data = 0, t_fwd = 0, t_bwd = 0, t_opt = 0;
  int64_t window_steps = 0;
  auto window_start = Clock::now();
  double last_loss = 0, last_sched = 0, last_gnorm = 0;
  int64_t logged = -1;  // the last step with a metrics.jsonl line
  const bool tty = Progress::enabled() && dist.is_main();
  // The metrics.jsonl line (and the line on stderr) of the step just done,
  // over the steps since the last one. Every rank calls it (data_health).
  auto log_step = [&](int64_t step) {
    const double window_t = since(window_start);
    double sps = window_steps * cfg.batch_size / std::max(window_t, 1e-9);
    const DataHealth health = data_health();
    if (dist.is_main()) {
      JsonWriter w;
      w.begin_object().key("step").value(step).key("loss").value(last_loss).key("lr").value(cfg.optim.lr * last_sched);
      w.key("temperature").value(std::exp(net->t.detach().cpu().item<double>()));
      w.key("grad_norm").value(last_gnorm).key("samples_per_s").value(sps);
      w.key("skipped").value(health.skipped).key("damaged_reads").value(health.damaged);
      w.key("time").value(since(t_start));
      w.key("data_s").value(t_data / window_steps).key("forward_s").value(t_fwd / window_steps);
      w.key("backward_s").value(t_bwd / window_steps).key("optimizer_s").value(t_opt / window_steps);
      w.end_object();
      metrics->append(w.str());
      double eta = (total - step) * window_t / window_steps;
      if (!tty)
        log::info("step {}/{} loss {:.4f} lr {:.3g} {:.1f} samples/s ETA {}", step, total, last_loss,
                  cfg.optim.lr * last_sched, sps, fmt_duration(eta));
    }
    t_data = t_fwd = t_bwd = t_opt = 0;
    window_steps = 0;
    window_start = Clock::now();
    logged = step;
  };
  auto interrupted = [&] { return world == 1 && cli::stop_signal() != 0; };
  // A run that stops early logs its last step too, after saving it.
  auto log_last = [&](int64_t step) {
    if (step <= first || logged == step) return;
    try {
      log_step(step);
    } catch (const Error& e) {
      log::warn("{} (the checkpoint is saved)", e.what());
    }
  };
  auto stop_at = [&](int64_t step, int sig) {
    if (reached.saved != step) save(step);  // first: what the signal's sender waits for
    log_last(step);
    log::keep_status();
    log::info("stopped by signal at step {}; checkpoint saved to {}; run again to resume", step,
              dist.is_main() ? ckpt_path.string() : "rank 0's workdir");
    // A rank stopped by another's signal exits as by SIGTERM, unless its
    // own came meanwhile (a launcher signals every rank, not at once).
    if (const int own = cli::stop_signal()) sig = own;
    return 128 + sig;
  };
  // A signal to any rank stops all of them, together. A collective.
  auto stop_signal = [&] {
    const int mine = cli::stop_signal();
    return dist.any(mine != 0) ? (mine ? mine : SIGTERM) : 0;
  };
  const char* kill_env = std::getenv("CLIPPO_TRAIN_KILL_AT_STEP");
  const int64_t kill_at = kill_env ? std::atoll(kill_env) : -1;

  // Rank 0 alone evaluates (the others hold no eval options): when, to all.
  int64_t eval_every = evaluator ? cfg.eval_every : -1;  // 0: after the last step only; -1: never
  if (world > 1) {
    auto t = torch::tensor({eval_every}, torch::kInt64);
    dist.broadcast(t);
    eval_every = t.item<int64_t>();
  }
  auto is_eval_step = [&](int64_t step) {
    return eval_every >= 0 && ((eval_every > 0 && step % eval_every == 0) || step == total);
  };
  double eval_seconds = 0;
  // Rank 0 evaluates, the others wait for it. A signal ends the evaluation
  // (a preempted job has seconds to save).
  auto evaluate = [&](int64_t step) {
    const auto t = Clock::now();
    if (dist.is_main()) {
      if (auto r = evaluator->run(net, 256, [] { return cli::stop_signal() != 0; })) {
        JsonWriter w;
        w.begin_object().key("step").value(step);
        for (auto& [k, v] : *r) w.key("eval/" + k).value(v);
        w.end_object();
        metrics->append(w.str());
        log::info("step {} eval: {}", step, w.str());
      } else {
        log::info("step {}: evaluation stopped by signal (a resume runs it)", step);
      }
    }
    dist.wait_for_main(fmt::format("evaluated/{}", step));
    window_start += Clock::now() - t;  // its time is not the training's: samples/s leaves it out
    eval_seconds += since(t);
  };
  // An evaluation of the resumed step that a signal cut short (rank 0 knows).
  if (dist.any(evaluator && first > 0 && is_eval_step(first) && !metrics->has_eval_at(first))) {
    log::info("step {}: evaluating the resumed checkpoint (metrics.jsonl has no evaluation of it)", first);
    evaluate(first);
  }
  // A signal now (during that evaluation) stops before any step.
  if (const int sig = stop_signal()) return stop_at(first, sig);
  // For the tests: die hard at the resumed step, as a crash before its first step would.
  if (kill_at == first && first > 0) std::raise(SIGKILL);

  while (step < total) {
    auto t0 = Clock::now();
    // One process stops while it waits for data too; ranks stop together,
    // after a step (the loader fails rather than wait for ever).
    std::optional<Batch> next;
    try {
      next = loader.next(interrupted);
    } catch (const Error& e) {
      // Bad data stops the run; one process keeps the steps it did. (Ranks
      // would need each other's data positions, in a collective the others
      // are not in: they resume from the last checkpoint.)
      if (world > 1 || step == 0 || step == reached.saved) throw;
      try {
        save(step);
      } catch (const Error& save_error) {
        throw Error(fmt::format("{}; and the checkpoint of step {} could not be saved: {}", e.what(), step,
                                save_error.what()));
      }
      log_last(step);
      log::keep_status();
      throw Error(fmt::format("{}; the checkpoint of step {} is saved to {}: run again to resume", e.what(), step,
                              ckpt_path.string()));
    }
    if (!next) return stop_at(step, cli::stop_signal());
    Batch& batch = *next;
    double td = since(t0);
    auto t1 = Clock::now();
    torch::Tensor x = torch::cat({batch.a, batch.b}).to(dev);
    torch::Tensor z;
    {
      model::AutocastScope autocast(dev.type(), cfg.bf16());
      z = net->forward(x).z;
    }
    z = z.to(torch::kFloat32);
    torch::Tensor my_loss = contrastive_loss(z.slice(0, 0, B), z.slice(0, B, 2 * B), net->t, &dist);
    double tf = since(t1);
    auto t2 = Clock::now();
    net->zero_grad();
    my_loss.backward();
    std::vector<torch::Tensor> grads;
    for (auto& s : specs) {
      torch::Tensor& g = s.param.mutable_grad();
      if (!g.defined()) g = torch::zeros_like(s.param);  // (no part in this loss: a zero to add up)
      grads.push_back(g);
    }
    grads.push_back(my_loss.detach().reshape({1}).clone());
    dist.all_reduce_sum(grads);
    double loss = grads.back().item<double>();
    double tb = since(t2);
    // Nothing is updated with a loss or gradient that is not finite.
    auto diverged = [&](const char* what, double value) {
      // (The others know rank 0's checkpoint by its step.)
      return Error(fmt::format("{} is {} at step {}; stopping. {}", what, value, step + 1,
                               reached.saved < 0 ? std::string("No checkpoint was written yet.")
                               : fmt::format("The last checkpoint ({}, step {}) is kept: resume it with a "
                                             "lower --lr (if that diverges at once too, the model had blown up "
                                             "before: start from a kept copy, --keep-every, or anew)",
                                             dist.is_main() ? ckpt_path.string() : "rank 0's", reached.saved)));
    };
    if (!std::isfinite(loss)) throw diverged("loss", loss);
    auto t3 = Clock::now();
    double sched = cfg.schedule(opt.count());
    double gnorm = opt.step(sched);
    if (!std::isfinite(gnorm)) throw diverged("the gradient's norm", gnorm);
    double to = since(t3);
    reached.step = ++step;
    state.positions[rank] = batch.after;
    t_data += td, t_fwd += tf, t_bwd += tb, t_opt += to;
    ++window_steps;
    last_loss = loss, last_sched = sched, last_gnorm = gnorm;

    bool last = step == total;
    if (step % cfg.log_every == 0 || last || step == first + 1) log_step(step);
    if (tty) {
      double el = since(t_start) - eval_seconds;
      double eta = (total - step) * el / std::max<int64_t>(1, step - first);
      log::show_status(fmt::format("step {}/{} loss {:.4f} {:.1f} samples/s ETA {}", step, total, last_loss,
                                   (step - first) * cfg.batch_size / std::max(el, 1e-9), fmt_duration(eta)));
      if (last) log::keep_status();
    }
    if (const int sig = stop_signal()) return stop_at(step, sig);
    if (last || kept(step) || (cfg.checkpoint_every > 0 && step % cfg.checkpoint_every == 0)) save(step);
    // After the checkpoint: an evaluation that fails (or is stopped) loses no step.
    if (is_eval_step(step)) {
      log::keep_status();
      evaluate(step);
      if (const int sig = stop_signal()) return stop_at(step, sig);
    }
    // For the resume test: die hard after this step, as a crash or `kill -9` would.
    if (kill_at == step) std::raise(SIGKILL);
  }
  if (first >= total) {
    log::info("{}: already at step {} of {}", workdir.string(), first, total);
  } else {
    const DataHealth health = data_health();
    log::info("done: {} steps, loss {:.4f}{}{}; checkpoint {}, metrics {}", step, last_loss,
              health.skipped ? fmt::format(", {} unusable records skipped", health.skipped) : "",
              health.damaged ? fmt::format(", {} shard read(s) cut short by damage", health.damaged) : "",
              ckpt_path.string(),
              (workdir / "metrics.jsonl").string());
  }
  return 0;
}

}  // namespace
}  // namespace clippo::train
