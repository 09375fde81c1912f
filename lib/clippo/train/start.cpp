// The start of a run, before its first step: a rank's configuration checked
// against this process and its files, and a model's first weights from --init.
#include "clippo/train/start.h"

#include <fmt/core.h>
#include <fmt/ranges.h>  // fmt::join

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>
#include <thread>

#include <torch/cuda.h>

#include "clippo/cli/command.h"
#include "clippo/cli/log.h"
#include "clippo/io/paths.h"
#include "clippo/model/npz.h"
#include "clippo/model/device.h"
#include "clippo/model/embedder.h"  // sha256_file
#include "clippo/text/render.h"
#include "clippo/train/dist.h"

namespace fs = std::filesystem;

namespace clippo::train {

namespace {

// The files of --OPTION's patterns. Each pass (or evaluation) reads them
// again, so a pipe (a FIFO, <(...)) would end after the first, or hang.
std::vector<std::string> expand(const char* option, const std::vector<std::string>& patterns, bool main) {
  if (patterns.empty()) return {};
  auto files = expand_inputs(patterns, is_shard_path);
  for (const auto& f : files)
    if (std::error_code ec; fs::exists(fs::status(f, ec)) && !fs::is_regular_file(fs::status(f, ec)))
      throw UsageError(fmt::format("--{} {}: not a regular file (a pipe?), and training reads its shards more than "
                                   "once: save the stream to a file first",
                                   option, f));
  // Overlapping patterns ('dir' and 'dir/*.shard'): each naming is read.
  std::map<std::string, int> times;
  std::vector<std::string> twice;
  for (const auto& f : files)
    if (++times[absolute_path(f)] == 2) twice.push_back(f);
  if (!twice.empty() && main)
    log::warn("--{} names {} file(s) more than once ({}{}): each is read as often as it is named", option,
              twice.size(), fmt::join(twice.begin(), twice.begin() + std::min<size_t>(twice.size(), 3), ", "),
              twice.size() > 3 ? ", ..." : "");
  return files;
}

// --init (or a workdir's checkpoint without its config.json) without
// --variant, --res or --out-dim: the sizes of its model (--init's out dim
// only with its variant), saved in config.json as if given.
void take_checkpoint_sizes(TrainConfig& cfg, bool main) {
  const model::NpzReader reader(cfg.sizes_from);
  const model::ModelConfig init = model::infer_config(reader.entries(), 0, cfg.sizes_from);
  std::vector<std::string> taken;
  if (cfg.variant_from_ckpt) cfg.variant = init.variant(), taken.push_back("variant " + cfg.variant);
  if (cfg.out_dim_from_ckpt) {
    TrainConfig plain = cfg;  // out dim 0: the width
    plain.out_dim = 0, plain.res = init.res;
    if (init.out_dim != plain.model().width)
      cfg.out_dim = init.out_dim, taken.push_back(fmt::format("out dim {}", cfg.out_dim));
  }
  if (cfg.res_from_ckpt) cfg.res = init.res, taken.push_back(fmt::format("resolution {} px", cfg.res));
  if (main && !taken.empty())
    log::info("{}{}: the checkpoint's {}", cfg.init.empty() ? "" : "--init ", cfg.sizes_from, fmt::join(taken, ", "));
}

std::vector<std::string> font_files(const std::vector<std::string>& fonts) {
  return fonts.empty() ? std::vector<std::string>{text::kDefaultFontFile} : fonts;
}

}  // namespace

std::string describe_fonts(const std::vector<std::string>& fonts) {
  std::string digests;
  for (const auto& f : font_files(fonts)) digests += model::sha256_file(f) + ' ';
  return digests;
}

void check_fonts_match(const std::vector<std::string>& fonts, const std::string& main_fonts) {
  std::istringstream main(main_fonts);  // one SHA-256 per file of the same list
  for (const auto& f : font_files(fonts)) {
    std::string there;
    main >> there;
    if (const std::string here = model::sha256_file(f); here != there)
      throw Error(fmt::format("font {}: other bytes here (SHA-256 {}...) than on rank 0 ({}...): every rank must "
                              "render text with the same glyphs",
                              f, here.substr(0, 16), there.substr(0, 16)));
  }
}

int default_threads(const DistEnv& env) {
  const int cores = cli::usable_cores();
  const unsigned all = std::thread::hardware_concurrency();
  if (env.local_world > 1 && cores == static_cast<int>(all)) return std::max(1, cores / env.local_world);
  return cores;
}

void load_init(model::OneTower& net, const TrainConfig& cfg, const model::ModelConfig& mc, bool main) {
  auto arrays = model::read_npz(cfg.init, [](const std::string& n) { return n.rfind("opt/", 0) != 0; });
  // --init-skip head: those arrays keep their fresh initialisation.
  for (auto& part : cfg.init_skip) {
    std::vector<std::string> fresh;
    for (auto& [name, arr] : model::export_params(net))
      if (("/" + name + "/").find("/" + part + "/") != std::string::npos)  // whole parts of the path
        arrays[name] = arr, fresh.push_back(name);
    if (fresh.empty())
      throw UsageError(fmt::format("--init-skip {}: no array of a {} model has '{}' in its path (e.g. head, "
                                   "pos_embedding, head/kernel)",
                                   part, mc.variant(), part));
    log::info("--init-skip {}: {} kept fresh ({} array{})", part, fresh.front(), fresh.size(),
              fresh.size() == 1 ? "" : "s");
  }
  model::LoadReport rep;
  try {
    rep = model::load_params(net, arrays, cfg.init);
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.find("'params/img/head/") != std::string::npos && what.find("' has shape ") != std::string::npos)
      throw Error(what + " (--init-skip head starts the head afresh, as a new --out-dim needs)");
    // A model deeper than the checkpoint: name the blocks it lacks.
    if (what.find(": missing array 'params/img/Transformer/encoderblock_") == std::string::npos) throw;
    std::vector<int> lacking;
    for (int i = 0; i < mc.depth; ++i) {
      const std::string block = fmt::format("params/img/Transformer/encoderblock_{}/", i);
      const auto it = arrays.lower_bound(block);
      if (it == arrays.end() || !it->first.starts_with(block)) lacking.push_back(i);
    }
    if (lacking.empty() || static_cast<int>(lacking.size()) == mc.depth) throw;  // none at all: another layout
    throw Error(fmt::format("{} (the model has {} blocks, the checkpoint lacks {}: --init-skip encoderblock_N for "
                            "each N of {} starts them afresh)",
                            what, mc.depth, lacking.size(), fmt::join(lacking, ", ")));
  }
  log::info("initialised from {}{}", cfg.init, rep.resampled_posemb ? " (position embedding resampled)" : "");
  // Arrays the model has no place for (a deeper model's blocks, another
  // tower) are left out: say so, as that may not be what was meant.
  std::vector<std::string> unused;
  for (auto& name : rep.skipped)
    if (!name.starts_with("state/")) unused.push_back(name);
  if (!unused.empty() && main) {
    log::warn("--init {}: {} array{} that a {} model does not have left out: {}{}", cfg.init, unused.size(),
              unused.size() == 1 ? "" : "s", mc.variant(), unused.front(),
              unused.size() > 1 ? fmt::format(" and {} more (all with -v)", unused.size() - 1) : "");
    for (auto& name : unused) log::debug("--init {}: left out {}", cfg.init, name);
  }
}


std::string prepare(TrainConfig& cfg, const DistEnv& env, DataConfig& dc, std::vector<std::string>& eval_files) {
  const bool main = env.rank == 0;
  cfg.validate();
  const bool cuda = cfg.device == "cuda";
  if (env.source != "single")
    if (const std::string why = Dist::missing_backend(cuda); !why.empty()) throw Error(why);
  if (cuda) {
    model::torch_device(cfg.device);  // no CUDA: a clear error before any work
    if (const int64_t gpus = torch::cuda::device_count(); env.local_rank >= gpus)
      throw Error(fmt::format("--device cuda: local rank {} ({}) but {} GPU{} visible", env.local_rank, env.source,
                              gpus, gpus == 1 ? " is" : "s are"));
  }
  if (cfg.batch_size % env.world != 0)
    throw UsageError(fmt::format("--batch-size {} is not divisible by the {} processes", cfg.batch_size, env.world));
  cfg.threads = cli::resolve_threads(cfg.threads);
  // The model and the input files are checked before the workdir is made or
  // written, so a mistyped flag or pattern leaves nothing behind.
  if (cfg.variant_from_ckpt || cfg.res_from_ckpt || cfg.out_dim_from_ckpt) take_checkpoint_sizes(cfg, main);
  (void)cfg.model();
  dc.data = expand("data", cfg.data, main);
  dc.text_pairs = expand("text-pairs", cfg.text_pairs, main);
  if (main) eval_files = expand("eval-data", cfg.eval_data, true);
  return TrainConfig::describe_files(dc.data, dc.text_pairs);
}


}  // namespace clippo::train
