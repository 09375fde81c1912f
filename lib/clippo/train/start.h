// The start of a run, before its first step (see trainer.cpp).
#pragma once
#include <string>
#include <vector>

#include "clippo/model/vit.h"
#include "clippo/train/data.h"
#include "clippo/train/dist.h"
#include "clippo/train/config.h"

namespace clippo::train {

// A rank's configuration checked against this process and its files before
// any work: the backend and GPU, the split of the batch, the model (sizes
// left open taken from a checkpoint), the inputs (into dc; eval_files on
// rank 0). Returns the digest of its --data and --text-pairs files.
std::string prepare(TrainConfig& cfg, const DistEnv& env, DataConfig& dc, std::vector<std::string>& eval_files);

// The SHA-256 of each font file (the default font where none is given):
// ranks on other nodes read rank 0's paths, and must render alike whatever
// files those hold there.
std::string describe_fonts(const std::vector<std::string>& fonts);
// Throws, naming the file, where this rank's fonts are not rank 0's
// (`main_fonts`, its describe_fonts).
void check_fonts_match(const std::vector<std::string>& fonts, const std::string& main_fonts);

// The torch threads when --threads is not given: the cores this process may
// run on, shared with the other processes of its node where the launcher
// left them all on every core (torchrun does).
int default_threads(const DistEnv& env);

// --init: its params, less those --init-skip keeps fresh, into the fresh
// model (`main`: this rank says what it left out).
void load_init(model::OneTower& net, const TrainConfig& cfg, const model::ModelConfig& mc, bool main);

}  // namespace clippo::train
