// clippo-train's configuration: config.json (written and read back), the
// checks of a new run's options, and what a resumed run may change.
#include "clippo/train/config.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <type_traits>

#include "clippo/cli/command.h"
#include "clippo/cli/log.h"
#include "clippo/io/json.h"
#include "clippo/io/paths.h"
#include "clippo/text/prompts.h"
#include "clippo/text/render.h"

namespace fs = std::filesystem;

namespace clippo::train {

std::string TrainConfig::to_json() const {
  JsonWriter w;
  // Paths are saved absolute, so a resume from another folder reads the
  // same files (and one that names them relative to it is compared right).
  auto list = [&](const char* k, const std::vector<std::string>& v, bool paths = false) {
    w.key(k).begin_array();
    for (auto& s : v) w.value(paths ? absolute_path(s) : s);
    w.end_array();
  };
  w.begin_object();
  list("data", data, true);
  list("text_pairs", text_pairs, true);
  w.key("text_pair_fraction").value(text_pair_fraction);
  w.key("shuffle_buffer").value(shuffle_buffer);
  w.key("data_files").value(data_files);
  list("fonts", fonts, true);
  w.key("variant").value(variant).key("res").value(res).key("out_dim").value(out_dim);
  w.key("init").value(absolute_path(init));
  list("init_skip", init_skip);
  w.key("batch_size").value(batch_size);
  w.key("optimizer").value(optim.name).key("lr").value(optim.lr).key("wd").value(optim.wd);
  w.key("grad_clip").value(optim.clip_norm).key("momentum").value(optim.momentum);
  w.key("schedule").value(schedule.type).key("steps").value(schedule.total_steps);
  w.key("warmup").value(schedule.warmup_steps).key("cooldown").value(schedule.cooldown_steps);
  w.key("timescale").value(schedule.timescale);
  w.key("seed").value(seed);
  w.key("checkpoint_every").value(checkpoint_every).key("keep_every").value(keep_every);
  w.key("log_every").value(log_every);
  list("eval_data", eval_data, true);
  w.key("eval_every").value(eval_every).key("eval_size").value(eval_size);
  // A class list or prompt set that names a file (not a bundled set).
  auto file_or_name = [&](const std::string& v) { return fs::is_regular_file(v) ? absolute_path(v) : v; };
  w.key("eval_classes").value(file_or_name(eval_classes)).key("eval_prompts").value(file_or_name(eval_prompts));
  w.key("threads").value(threads).key("data_threads").value(data_threads);
  w.key("grad_checkpointing").value(grad_checkpointing);
  w.key("device").value(device).key("precision").value(precision);
  w.key("on_error").value(on_error == OnError::fail ? "fail" : "skip");
  w.end_object();
  return w.str() + "\n";
}

// The same files however they were named.
static std::vector<std::string> canonical_names(const std::vector<std::string>& files) {
  std::vector<std::string> names;
  for (const auto& f : files) names.push_back(absolute_path(f));
  return names;
}

// FNV-1a over the files' names (and sizes): stable across builds, unlike std::hash.
static std::string digest_files(const std::vector<std::string>& data, const std::vector<std::string>& pairs,
                                bool sizes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  auto mix = [&h](const std::string& s) {
    for (char ch : s) h = (h ^ static_cast<uint8_t>(ch)) * 0x100000001b3ULL;
  };
  for (const auto* list : {&data, &pairs}) {
    for (const auto& name : canonical_names(*list)) {
      std::error_code ec;
      const auto size = fs::file_size(name, ec);
      mix(sizes ? name + '\t' + (ec ? std::string("?") : std::to_string(size)) + '\n' : name + '\n');
    }
    mix("\xff");  // between the lists
  }
  return fmt::format("{} + {} files{}, digest {:016x}", data.size(), pairs.size(), sizes ? " (names and sizes)" : "", h);
}

std::string TrainConfig::describe_files(const std::vector<std::string>& data, const std::vector<std::string>& pairs) {
  // Names and sizes: a shard rewritten in place almost always changes size.
  return digest_files(data, pairs, true);
}

bool TrainConfig::describes_files(const std::string& saved, const std::vector<std::string>& data,
                                  const std::vector<std::string>& pairs) {
  // Runs saved before sizes counted hold the digest of the names alone.
  return saved == describe_files(data, pairs) ||
         (saved.find("(names and sizes)") == std::string::npos && saved == digest_files(data, pairs, false));
}

TrainConfig TrainConfig::from_json(const std::string& text, const std::string& where) {
  const JsonObject doc = JsonObject::parse(text, where);
  // A field this version does not know (a typo in a hand edit, or a newer
  // clippo-train's) would be ignored: the run would not be the one asked for.
  static const std::vector<std::string> known = JsonObject::parse(TrainConfig{}.to_json(), "defaults").keys();
  for (const auto& k : doc.keys())
    if (std::find(known.begin(), known.end(), k) == known.end())
      throw Error(fmt::format("{}: unknown field '{}' (a typo, or written by a newer clippo-train?)", where, k));
  TrainConfig c;
  auto bad = [&](const char* k) { return Error(fmt::format("{}: field '{}' is missing or has the wrong type", where, k)); };
  auto str = [&](const char* k, std::string& out) {
    auto v = doc.get_string(k);
    if (!v) throw bad(k);
    out = std::move(*v);
  };
  auto num = [&](const char* k, auto& out) {
    using T = std::remove_reference_t<decltype(out)>;
    if constexpr (std::is_integral_v<T>) {  // exactly: a seed past 2^53 would not survive a double
      auto v = doc.get_integer(k);
      if (!v && doc.get_number(k))
        throw Error(fmt::format("{}: field '{}' is {}: not a whole number in range", where, k, *doc.get(k)));
      if (!v) throw bad(k);
      if (*v < std::numeric_limits<T>::min() || *v > std::numeric_limits<T>::max())
        throw Error(fmt::format("{}: field '{}' is {}: out of range", where, k, *v));
      out = static_cast<T>(*v);
    } else {
      auto v = doc.get_number(k);
      if (!v) throw bad(k);
      out = static_cast<T>(*v);
    }
  };
  auto list = [&](const char* k, std::vector<std::string>& out) {
    auto v = doc.get_strings(k);
    if (!v) throw bad(k);
    out = std::move(*v);
  };
  list("data", c.data);
  list("text_pairs", c.text_pairs);
  num("text_pair_fraction", c.text_pair_fraction);
  num("shuffle_buffer", c.shuffle_buffer);
  if (doc.get("data_files")) str("data_files", c.data_files);  // absent before it was saved
  list("fonts", c.fonts);
  str("variant", c.variant);
  num("res", c.res);
  num("out_dim", c.out_dim);
  str("init", c.init);
  list("init_skip", c.init_skip);
  num("batch_size", c.batch_size);
  str("optimizer", c.optim.name);
  num("lr", c.optim.lr);
  num("wd", c.optim.wd);
  num("grad_clip", c.optim.clip_norm);
  num("momentum", c.optim.momentum);
  str("schedule", c.schedule.type);
  num("steps", c.schedule.total_steps);
  num("warmup", c.schedule.warmup_steps);
  num("cooldown", c.schedule.cooldown_steps);
  num("timescale", c.schedule.timescale);
  num("seed", c.seed);
  num("checkpoint_every", c.checkpoint_every);
  num("keep_every", c.keep_every);
  num("log_every", c.log_every);
  // A string in configs written before --eval-data could repeat.
  if (auto one = doc.get_string("eval_data")) c.eval_data = one->empty() ? std::vector<std::string>{} : std::vector{*one};
  else list("eval_data", c.eval_data);
  num("eval_every", c.eval_every);
  num("eval_size", c.eval_size);
  if (c.eval_data.empty()) c.eval_size = TrainConfig().eval_size;  // (older builds kept one without eval data)
  // Absent from configs written before these were saved.
  if (doc.get("eval_classes")) str("eval_classes", c.eval_classes);
  if (doc.get("eval_prompts")) str("eval_prompts", c.eval_prompts);
  if (doc.get("threads")) num("threads", c.threads);
  if (doc.get("data_threads")) num("data_threads", c.data_threads);
  if (doc.get("grad_checkpointing")) {
    auto on = doc.get_bool("grad_checkpointing");
    if (!on) throw bad("grad_checkpointing");
    c.grad_checkpointing = *on;
  }
  str("device", c.device);
  if (doc.get("precision")) str("precision", c.precision);
  std::string oe;
  str("on_error", oe);
  if (oe != "fail" && oe != "skip") throw Error(fmt::format("{}: on_error '{}': expected skip or fail", where, oe));
  c.on_error = oe == "fail" ? OnError::fail : OnError::skip;
  return c;
}

model::ModelConfig TrainConfig::model() const try {
  return model::ModelConfig::from_variant(variant, res, out_dim);
} catch (const UsageError&) {
  throw;
} catch (const Error& e) {
  throw UsageError(e.what());
}

void TrainConfig::validate() const {
  if (workdir.empty()) throw UsageError("--workdir is required");
  if (data.empty() && text_pairs.empty())
    throw UsageError("--data is required for a new run (or --text-pairs with --text-pair-fraction 1)");
  // One example has no negatives: its loss is 0 and nothing is learnt. The
  // upper bound only catches typos before the sizes overflow.
  if (batch_size < 2)
    throw UsageError(fmt::format("--batch-size {}: must be at least 2 (the contrastive loss needs negatives)", batch_size));
  if (batch_size > (int64_t{1} << 24))
    throw UsageError(fmt::format("--batch-size {}: at most {}", batch_size, int64_t{1} << 24));
  if (seed < 0) throw UsageError(fmt::format("--seed {}: must be >= 0", seed));
  for (const auto& [option, list] : {std::pair{"data", &data}, {"text-pairs", &text_pairs}, {"eval-data", &eval_data}})
    if (std::find(list->begin(), list->end(), "-") != list->end())
      throw UsageError(fmt::format("--{} -: training reads its shards again each pass (and each evaluation), and "
                                   "standard input can be read once: save the stream to a file first",
                                   option));
  // (Read once to check them, once to run, once more on each resume.)
  for (const auto& [option, value] : {std::pair{"eval-classes", &eval_classes}, {"eval-prompts", &eval_prompts}})
    if (*value == "-")
      throw UsageError(fmt::format("--{} -: the list is read again on each resume, and standard input can be read "
                                   "once: give a file",
                                   option));
  if (!(text_pair_fraction >= 0 && text_pair_fraction <= 1))  // NaN too
    throw UsageError(fmt::format("--text-pair-fraction {}: must be in [0, 1]", text_pair_fraction));
  if (text_pair_fraction > 0 && text_pairs.empty()) throw UsageError("--text-pair-fraction needs --text-pairs shards");
  if (data.empty() && std::llround(text_pair_fraction * batch_size) < batch_size)
    throw UsageError("--data: no image/text shards (give --data, or --text-pair-fraction 1 to train on text pairs alone)");
  if (!init_skip.empty() && init.empty()) throw UsageError("--init-skip needs --init (it names arrays not to load)");
  for (auto& f : fonts)
    if (std::error_code ec; !fs::exists(f, ec)) throw UsageError(fmt::format("--font {}: no such file", f));
    else if (!fs::is_regular_file(f, ec))
      throw UsageError(fmt::format("--font {}: not a regular file (a .hex font, read again on each resume)", f));
  // Read now, so a malformed one fails before the workdir is made.
  if (!fonts.empty()) try {
      (void)text::Font::load(fonts);
    } catch (const Error& e) {
      throw UsageError(fmt::format("--font: {}", e.what()));
    }
  if (res < 1) throw UsageError(fmt::format("--res {}: must be positive", res));
  if (out_dim < 0) throw UsageError(fmt::format("--out-dim {}: must be >= 0 (0 = the width)", out_dim));
  if (shuffle_buffer < 0) throw UsageError(fmt::format("--shuffle-buffer {}: must be >= 0", shuffle_buffer));
  if (data_threads < 0 || data_threads > cli::kMaxThreads)
    throw UsageError(fmt::format("--data-threads {}: must be in [0, {}]", data_threads, cli::kMaxThreads));
  if (checkpoint_every < 0) throw UsageError(fmt::format("--checkpoint-every {}: must be >= 0", checkpoint_every));
  if (keep_every < 0) throw UsageError(fmt::format("--keep-every {}: must be >= 0", keep_every));
  if (log_every < 1) throw UsageError(fmt::format("--log-every {}: must be >= 1", log_every));
  if (eval_every < 0) throw UsageError(fmt::format("--eval-every {}: must be >= 0", eval_every));
  if (eval_size < 1) throw UsageError(fmt::format("--eval-size {}: must be >= 1", eval_size));
  if (eval_data.empty() && (eval_every > 0 || !eval_classes.empty() || eval_size != TrainConfig().eval_size))
    throw UsageError(fmt::format("--{} needs --eval-data",
                                 eval_every > 0 ? "eval-every" : !eval_classes.empty() ? "eval-classes" : "eval-size"));
  if (eval_classes.empty() && eval_prompts != "clip80")
    throw UsageError("--eval-prompts needs --eval-classes (the prompts are filled with the class names)");
  // The lists are read now, so a typo fails before any work.
  auto check = [](const char* option, const std::string& value, auto load) {
    try {
      load(value);
    } catch (const Error& e) {
      std::string why = e.what();  // "FILE: what", named once
      if (why.starts_with(value + ": ")) why.erase(0, value.size() + 2);
      throw UsageError(fmt::format("--{} {}: {}", option, value, why));
    }
  };
  if (!eval_classes.empty()) {
    check("eval-classes", eval_classes, text::load_classes);
    check("eval-prompts", eval_prompts, text::load_templates);
  }
  if (device != "cpu" && device != "cuda") throw UsageError(fmt::format("--device {}: expected cpu or cuda", device));
  if (precision != "auto" && precision != "fp32" && precision != "bf16")
    throw UsageError(fmt::format("--precision {}: expected fp32, bf16 or auto", precision));
  if (!variant_from_ckpt && !res_from_ckpt) (void)model();  // else the sizes come with the checkpoint's
  optim.validate();
  schedule.validate();
}

// The workdir before any work: a folder, or a name to make one at.
static void check_workdir(const fs::path& dir) {
  if (dir.empty()) throw UsageError("--workdir is required (a folder's name, not empty)");
  std::error_code ec;
  const fs::file_status st = fs::status(dir, ec);
  if (fs::is_symlink(fs::symlink_status(dir, ec)) && !fs::exists(st))
    throw UsageError(fmt::format("--workdir {}: a symbolic link to {}, which does not exist", dir.string(),
                                 fs::read_symlink(dir, ec).string()));
  if (fs::exists(st) && !fs::is_directory(st))
    throw UsageError(fmt::format("--workdir {}: not a folder", dir.string()));
}

// An option given on a resume with another value that means the same:
// --out-dim 64 for 0 on a 64-wide model; --data or --text-pairs as another
// pattern for the same files (a folder for the files it holds).
static bool same_in_effect(const std::string& option, const TrainConfig& saved, const TrainConfig& cli) {
  if (option == "out-dim") {
    TrainConfig given = saved;
    given.out_dim = cli.out_dim;
    try {
      return given.model().out_dim == saved.model().out_dim;
    } catch (const Error&) {
      return false;
    }
  }
  if (option != "data" && option != "text-pairs") return false;
  auto files = [&](const TrainConfig& c) {
    return canonical_names(expand_inputs(option == "data" ? c.data : c.text_pairs, is_shard_path));
  };
  try {
    return files(saved) == files(cli);
  } catch (const Error&) {  // a file gone: not the same
    return false;
  }
}

// Whether --NAME as the command line (cli) gave it differs from config's
// value (`was`, as JSON), other than in name (see same_in_effect).
static bool option_differs(const std::string& name, const TrainConfig& config, const TrainConfig& cli,
                           std::string& was) {
  const JsonObject a = JsonObject::parse(config.to_json(), "the configuration");
  const JsonObject b = JsonObject::parse(cli.to_json(), "the command line");
  std::string key = name == "font" ? "fonts" : name;
  std::replace(key.begin(), key.end(), '-', '_');
  const auto value = a.get(key);
  if (!value) throw std::logic_error("--" + name + " has no field in config.json");
  was = *value;
  return value != b.get(key) && !same_in_effect(name, config, cli);
}

bool was_given(const std::vector<std::string>& given, const char* option) {
  return std::find(given.begin(), given.end(), option) != given.end();
}

// No evaluation: the eval options back to their defaults, but for those
// the command line gave (`given`), which validate() then refuses.
static void drop_eval(TrainConfig& c, const std::vector<std::string>& given) {
  const TrainConfig defaults;
  c.eval_data.clear();
  if (!was_given(given, "eval-every")) c.eval_every = defaults.eval_every;
  if (!was_given(given, "eval-size")) c.eval_size = defaults.eval_size;
  if (!was_given(given, "eval-classes")) c.eval_classes = defaults.eval_classes;
  if (!was_given(given, "eval-prompts")) c.eval_prompts = defaults.eval_prompts;
}

// A new run replaces the workdir's config.json and metrics.jsonl: files of
// that name that are not clippo-train's (a folder chosen by mistake) are kept.
static void refuse_foreign_files(const fs::path& dir) {
  auto refuse = [&](const char* name, const std::string& why) {
    throw UsageError(fmt::format("{}: {}, and a new run would replace it: give another --workdir",
                                 (dir / name).string(), why));
  };
  std::error_code ec;
  if (const fs::path p = dir / "config.json"; fs::is_regular_file(p, ec)) try {
      (void)TrainConfig::from_json(read_whole_file(p.string()), p.string());
    } catch (const Error& e) {
      refuse("config.json", fmt::format("not a clippo-train configuration ({})", without_path(e.what(), p.string())));
    }
  if (const fs::path p = dir / "metrics.jsonl"; fs::is_regular_file(p, ec)) {
    std::ifstream in(p);
    std::string first;
    if (std::getline(in, first)) try {
        if (!JsonObject::parse(first, p.string()).get_number("step")) throw Error("no step");
      } catch (const Error&) {
        refuse("metrics.jsonl", "its first line is not a clippo-train metrics line");
      }
  }
}

// A run without config.json: the model sizes not given are --init's, or
// those of the workdir's own checkpoint (config.json lost).
static TrainConfig new_run(const TrainConfig& cli, const std::vector<std::string>& given) {
  refuse_foreign_files(cli.workdir);
  TrainConfig c = cli;
  const fs::path ckpt = fs::path(c.workdir) / "checkpoint.npz";
  c.sizes_from = !c.init.empty() ? c.init : fs::exists(ckpt) ? ckpt.string() : "";
  c.variant_from_ckpt = !c.sizes_from.empty() && !was_given(given, "variant");
  c.res_from_ckpt = !c.sizes_from.empty() && !was_given(given, "res");
  // The head of another variant means nothing for a new model; the run's own does.
  c.out_dim_from_ckpt = (c.init.empty() ? !c.sizes_from.empty() : c.variant_from_ckpt) && !was_given(given, "out-dim");
  return c;
}

TrainConfig resolve_config(const TrainConfig& cli, const std::vector<std::string>& given) {
  check_workdir(cli.workdir);
  fs::path saved_path = fs::path(cli.workdir) / "config.json";
  if (!fs::exists(saved_path)) {
    const bool checkpoint = fs::exists(fs::path(cli.workdir) / "checkpoint.npz");
    if (checkpoint && cli.data.empty() && cli.text_pairs.empty())
      throw UsageError(fmt::format("{} holds checkpoint.npz but no config.json: give the run's options again "
                                   "(--data, --variant, --res, ...) to resume it",
                                   cli.workdir));
    // The run would resume that checkpoint, and --init would go unused.
    if (checkpoint && !cli.init.empty())
      throw UsageError(fmt::format("{} holds checkpoint.npz (a run to resume) but no config.json, and --init starts "
                                   "a new run: drop --init to resume it, or start from {} in an empty workdir",
                                   cli.workdir, cli.init));
    return new_run(cli, given);
  }
  // No checkpoint yet: nothing was trained, so a command line that names the
  // data starts the run anew (e.g. after a typo in a --data pattern).
  const bool named_data = was_given(given, "data") || was_given(given, "text-pairs");
  if (!fs::exists(fs::path(cli.workdir) / "checkpoint.npz") && named_data) return new_run(cli, given);
  if (!fs::is_regular_file(saved_path)) throw Error(fmt::format("{}: not a file", saved_path.string()));
  TrainConfig c = TrainConfig::from_json(read_whole_file(saved_path.string()), saved_path.string());
  c.workdir = cli.workdir;
  // What a resumed run may change; everything else must match the run.
  const TrainConfig saved = c;
  // A switch of this run alone (on when given, else off), as it changes no result.
  c.grad_checkpointing = cli.grad_checkpointing;
  for (auto& name : given) {
    if (name == "grad-checkpointing") continue;
    if (name == "steps") {
      if (cli.schedule.total_steps != saved.schedule.total_steps &&
          (saved.schedule.type == "cosine" || saved.schedule.type == "linear" || saved.schedule.cooldown_steps > 0))
        log::warn("{}: its {} schedule{} is over --steps {}; with {} the learning rate follows the new schedule "
                  "from the resumed step on (it may jump)",
                  cli.workdir, saved.schedule.type, saved.schedule.cooldown_steps > 0 ? " with cool-down" : "",
                  saved.schedule.total_steps, cli.schedule.total_steps);
      c.schedule.total_steps = cli.schedule.total_steps;
    } else if (name == "lr") {
      // The way on after a divergence: the last good checkpoint, a lower rate.
      if (cli.optim.lr != saved.optim.lr)
        log::warn("{} ran with --lr {}; from the resumed step on the peak rate is {}", cli.workdir, saved.optim.lr,
                  cli.optim.lr);
      c.optim.lr = cli.optim.lr;
    } else if (name == "checkpoint-every") c.checkpoint_every = cli.checkpoint_every;
    else if (name == "keep-every") c.keep_every = cli.keep_every;
    else if (name == "log-every") c.log_every = cli.log_every;
    else if (name == "eval-data") {
      c.eval_data = cli.eval_data;
      // --eval-data '': no evaluation from now on, nor its saved options.
      if (c.eval_data.empty()) drop_eval(c, given);
    }
    else if (name == "eval-every") c.eval_every = cli.eval_every;
    else if (name == "eval-size") c.eval_size = cli.eval_size;
    else if (name == "eval-classes") c.eval_classes = cli.eval_classes;
    else if (name == "eval-prompts") c.eval_prompts = cli.eval_prompts;
    else if (name == "on-error") c.on_error = cli.on_error;
    else if (name == "device") c.device = cli.device;
    else if (name == "precision") c.precision = cli.precision;
    else if (name == "threads") {
      if (saved.threads > 0 && cli.threads != saved.threads)
        log::warn("{} ran with --threads {}; with {} the result will differ in the last bits from an uninterrupted run",
                  cli.workdir, saved.threads, cli.threads);
      c.threads = cli.threads;
    } else if (name == "data-threads") c.data_threads = cli.data_threads;
    else if (name == "workdir" || name == "quiet" || name == "verbose") continue;
    else if (std::string was; option_differs(name, saved, cli, was)) {
      // Anything else must equal the saved value.
      const bool none = was.empty() || was == "[]";
      throw UsageError(fmt::format("{} holds a run {} --{}{}; start a new --workdir to change it", cli.workdir,
                                   none ? "without" : "with", name, none ? "" : " " + was));
    }
  }
  try {
    c.validate();
  } catch (const UsageError& e) {
    // A value the command line did not give: named as config.json's.
    bool saved_one = false;
    try {
      saved.validate();
    } catch (const UsageError& s) {
      saved_one = std::string_view(s.what()) == e.what();
    }
    if (saved_one) throw Error(fmt::format("{}: {} (edited by hand, or by an older clippo-train?)", saved_path.string(), e.what()));
    throw;
  }
  return c;
}

TrainConfig adopt_main_config(const std::string& main_json, const TrainConfig& cli,
                              const std::vector<std::string>& given, std::vector<std::string>& differing) {
  TrainConfig c = TrainConfig::from_json(main_json, "rank 0's configuration");
  for (const auto& name : given) {
    // (Rank 0 alone evaluates: the eval options are its own.)
    if (name == "workdir" || name == "threads" || name == "data-threads" || name == "quiet" || name == "verbose" ||
        name.starts_with("eval-"))
      continue;
    if (std::string was; option_differs(name, c, cli, was)) differing.push_back("--" + name);
  }
  c.workdir = cli.workdir;
  if (was_given(given, "threads")) c.threads = cli.threads;
  if (was_given(given, "data-threads")) c.data_threads = cli.data_threads;
  // Rank 0 alone evaluates, and alone needs the files that reads.
  drop_eval(c, {});
  return c;
}

}  // namespace clippo::train
