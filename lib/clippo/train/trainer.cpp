// clippo-train's run: its start (the configuration, the rendezvous, the
// model, optimizer and state from rank 0's workdir), then the step loop
// (loop.cpp).
#include "clippo/train/trainer.h"

#include <fmt/core.h>
#include <fmt/ranges.h>  // fmt::join

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>

#include <ATen/Context.h>

#include "clippo/cli/log.h"
#include "clippo/cli/stop.h"
#include "clippo/io/atomic_file.h"
#include "clippo/model/device.h"
#include "clippo/model/vit.h"
#include "clippo/train/checkpoint.h"
#include "clippo/train/dist.h"
#include "clippo/train/eval.h"
#include "clippo/train/loop.h"
#include "clippo/train/optim.h"
#include "clippo/train/ranks.h"
#include "clippo/train/start.h"
#include "clippo/train/workdir.h"

namespace fs = std::filesystem;

namespace clippo::train {

namespace {

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
  TrainConfig cli = command_line;
  if (!was_given(given, "threads")) cli.threads = default_threads(env);
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
  std::string fonts;
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
    if (env.world > 1) fonts = describe_fonts(cfg.fonts);  // for the others to check theirs against
  } catch (const std::exception& e) {
    Dist::tell_failure(env, verdict(e));  // the others would wait for the rendezvous
    throw;
  }
  Dist dist(env);
  const std::string main_config = dist.share_text(Dist::kConfigKey, env.rank == 0 ? cfg.to_json() : "");
  if (!main_config.starts_with('{')) fail_with(0, main_config);  // rank 0 could not start
  const std::string main_fonts = dist.share_text("fonts", fonts);
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
    check_fonts_match(cfg.fonts, main_fonts);
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
        if (was_given(given, "seed"))
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

  StepLoop loop({cfg, dist, net, dev, specs, opt, state, resuming, loader, evaluator.get()}, reached);
  return loop.run();
}

}  // namespace
}  // namespace clippo::train
