// clippo-train's configuration: the options of a run, as config.json
// saves them, and how a resume or another rank settles them.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "clippo/cli/error.h"
#include "clippo/model/model_config.h"
#include "clippo/train/optim_config.h"
#include "clippo/train/schedule.h"

namespace clippo::train {

struct TrainConfig {
  // data
  std::vector<std::string> data, text_pairs;  // as given (patterns kept)
  double text_pair_fraction = 0;
  int shuffle_buffer = 10000;
  std::vector<std::string> fonts;
  // What --data and --text-pairs named when the run last started ("12 + 0
  // files, digest ..." of their names and sizes): a resume warns when the
  // files changed.
  std::string data_files;
  // model
  std::string variant = "B/16";
  int res = 224, out_dim = 0;
  std::string init;                    // big_vision .npz to start from
  std::vector<std::string> init_skip;  // array name parts to keep fresh ("head")
  // Not saved: the checkpoint whose sizes a new run's command line left
  // open take (--init's, or the workdir's own when config.json is lost;
  // the run saves the sizes it took).
  std::string sizes_from;
  bool variant_from_ckpt = false, res_from_ckpt = false, out_dim_from_ckpt = false;
  // optimisation
  int64_t batch_size = 256;  // global
  OptimConfig optim;
  Schedule schedule;
  int64_t seed = 0;
  // run
  std::string workdir;
  int64_t checkpoint_every = 1000, keep_every = 0, log_every = 50;
  std::vector<std::string> eval_data;
  int64_t eval_every = 0, eval_size = 1000;  // every 0: at the end only
  std::string eval_classes, eval_prompts = "clip80";  // zero-shot on the eval records' cls
  int threads = 0, data_threads = 0;  // saved so a resumed run computes as the first did
  bool grad_checkpointing = false;
  std::string device = "cpu";
  std::string precision = "auto";  // fp32 | bf16 (autocast) | auto: bf16 on cuda, fp32 on cpu
  bool bf16() const { return precision == "bf16" || (precision == "auto" && device == "cuda"); }
  OnError on_error = OnError::skip;

  std::string to_json() const;
  // data_files for these lists of files.
  static std::string describe_files(const std::vector<std::string>& data, const std::vector<std::string>& pairs);
  // Whether a saved data_files (of this or an older build) is these files'.
  static bool describes_files(const std::string& saved, const std::vector<std::string>& data,
                              const std::vector<std::string>& pairs);
  static TrainConfig from_json(const std::string& text, const std::string& where);
  void validate() const;
  // The model of --variant, --res and --out-dim; a bad one is a UsageError.
  model::ModelConfig model() const;
};

// Whether --OPTION is among the options given (by name, "seed").
bool was_given(const std::vector<std::string>& given, const char* option);

// The resolved config: cfg itself for a fresh workdir, else the saved one
// with the options the user gave again (`given`) applied where a resumed run
// may change them (--steps, --lr, the checkpoint, keep and log cadence,
// --threads and --data-threads, the --eval options, --on-error,
// --grad-checkpointing, --device, --precision); threads not given again keep
// their saved values; any other given option that differs is a UsageError
// naming it.
TrainConfig resolve_config(const TrainConfig& cli, const std::vector<std::string>& given);

// The configuration of a rank other than 0: rank 0's (config_json, resolved),
// with this rank's own --workdir, --threads and --data-threads where given,
// and no evaluation (rank 0 evaluates). The options given here that differ
// from rank 0's go to `differing` ("--wd").
TrainConfig adopt_main_config(const std::string& main_json, const TrainConfig& cli,
                              const std::vector<std::string>& given, std::vector<std::string>& differing);

}  // namespace clippo::train
