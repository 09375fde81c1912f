// clippo-train: CLIPPO contrastive training, resumable, multi-process.
#include "clippo/cli/command.h"
#include "clippo/train/trainer.h"

using namespace clippo;

int main(int argc, char** argv) {
  return cli::run("clippo-train", [&] {
    cli::Command cmd("clippo-train", "--data SHARDS --workdir DIR [OPTIONS]",
                     "Trains a CLIPPO model (one ViT for images and rendered text) with the contrastive loss\n"
                     "over the global batch, as big_vision does. A run lives in --workdir (checkpoint.npz,\n"
                     "metrics.jsonl, config.json); running again with the same --workdir resumes it.\n"
                     "Multi-process: torchrun --nproc-per-node N --no-python clippo-train ... (or srun).",
                     cli::kThreads | cli::kOnError | cli::kDevice);
    cmd.version_details = train::build_info;
    train::TrainConfig c;
    auto& o = c.optim;
    auto& s = c.schedule;
    cmd.options().add_options()
      ("data", cli::po::value(&c.data)->value_name("SHARDS"), "image/text shards (files, dirs, 'x-{000..099}.shard'; repeatable)")
      ("text-pairs", cli::po::value(&c.text_pairs)->value_name("SHARDS"), "text/text pair shards (txt + next.txt; repeatable)")
      ("text-pair-fraction", cli::po::value(&c.text_pair_fraction)->default_value(0.0, "0")->value_name("F"), "share of each batch taken from --text-pairs (CLIPPO: 0.25)")
      ("workdir", cli::po::value(&c.workdir)->value_name("DIR"), "the run's directory (created; resumed when it holds a checkpoint)")
      ("variant", cli::po::value(&c.variant)->default_value("B/16")->value_name("V/P"), "ViT variant: mu, Ti, S, M, B, L, So400m, H, g, G, e with /patch, or sizes wW-dD-hH-mM/P")
      ("res", cli::po::value(&c.res)->default_value(224)->value_name("N"), "image and rendered-text resolution")
      ("out-dim", cli::po::value(&c.out_dim)->default_value(0)->value_name("N"), "embedding size (0 = the width)")
      ("init", cli::po::value(&c.init)->value_name("NPZ"), "start from a big_vision checkpoint's params (optimizer fresh; sizes not given are its own)")
      ("init-skip", cli::po::value(&c.init_skip)->value_name("PART"), "keep arrays with this part of their path fresh (e.g. head, pos_embedding; repeatable)")
      ("batch-size", cli::po::value(&c.batch_size)->default_value(256)->value_name("N"), "global batch size, split evenly over the processes (CLIPPO: 10240)")
      ("steps", cli::po::value(&s.total_steps)->default_value(10000)->value_name("N"), "training steps (CLIPPO: 250000)")
      ("optimizer", cli::po::value(&o.name)->default_value("adafactor")->value_name("NAME"), "adafactor (big_vision) or adamw (beta2 0.999, eps 1e-8)")
      ("lr", cli::po::value(&o.lr)->default_value(1e-3, "0.001")->value_name("LR"), "peak learning rate")
      ("wd", cli::po::value(&o.wd)->default_value(1e-4, "0.0001")->value_name("WD"), "decoupled weight decay on kernels: each step scales them by 1 - WD x schedule (big_vision's rule: not times --lr)")
      ("grad-clip", cli::po::value(&o.clip_norm)->default_value(1.0, "1")->value_name("N"), "clip the gradient's global norm (0 = off)")
      ("momentum", cli::po::value(&o.momentum)->default_value(0.9, "0.9")->value_name("M"), "Adafactor's momentum (bfloat16, no debiasing; 0 = off), or AdamW's beta1")
      ("schedule", cli::po::value(&s.type)->default_value("rsqrt")->value_name("NAME"), "rsqrt, cosine, linear or constant")
      ("warmup", cli::po::value(&s.warmup_steps)->default_value(0)->value_name("N"), "linear warm-up steps (CLIPPO: 10000)")
      ("cooldown", cli::po::value(&s.cooldown_steps)->default_value(0)->value_name("N"), "linear cool-down steps at the end")
      ("timescale", cli::po::value(&s.timescale)->default_value(10000.0, "10000")->value_name("N"), "rsqrt timescale")
      ("seed", cli::po::value(&c.seed)->default_value(0)->value_name("N"), "seed of the initialisation and the data order")
      ("shuffle-buffer", cli::po::value(&c.shuffle_buffer)->default_value(10000)->value_name("N"), "records in the shuffle buffer (0 = no shuffling)")
      ("font", cli::po::value(&c.fonts)->value_name("FILE"), "Unifont .hex file for rendering (repeatable)")
      ("checkpoint-every", cli::po::value(&c.checkpoint_every)->default_value(1000)->value_name("N"), "write checkpoint.npz every N steps (0 = at the end only)")
      ("keep-every", cli::po::value(&c.keep_every)->default_value(0)->value_name("N"), "also keep checkpoint-STEP.npz every N steps")
      ("log-every", cli::po::value(&c.log_every)->default_value(50)->value_name("N"), "metrics.jsonl line every N steps, and at a run's first and last step")
      ("eval-data", cli::po::value(&c.eval_data)->value_name("SHARDS"), "held-out shards: retrieval recall over image/text records (repeatable)")
      ("eval-every", cli::po::value(&c.eval_every)->default_value(0)->value_name("N"), "evaluate every N steps and after the last (0 = after the last only)")
      ("eval-size", cli::po::value(&c.eval_size)->default_value(1000)->value_name("N"), "held-out records evaluated")
      ("eval-classes", cli::po::value(&c.eval_classes)->value_name("NAME|FILE"), "zero-shot accuracy on the eval records' cls labels: class names, or mnist / cifar10 / imagenet")
      ("eval-prompts", cli::po::value(&c.eval_prompts)->default_value("clip80")->value_name("NAME|FILE"), "zero-shot prompt templates: clip80, clip7 or a file")
      ("precision", cli::po::value(&c.precision)->default_value("auto")->value_name("P"), "fp32, bf16 (autocast: bfloat16 matmuls, float32 weights) or auto (bf16 on cuda, fp32 on cpu)")
      ("grad-checkpointing", cli::po::bool_switch(&c.grad_checkpointing), "recompute each block's activations in the backward pass (less memory, ~1/3 more compute)")
      ("data-threads", cli::po::value(&c.data_threads)->default_value(0)->value_name("N"), "decode/render threads (0 = --threads)");
    auto vm = cmd.parse(argc, argv);
    c.threads = cmd.threads;
    c.device = cmd.device;
    c.on_error = cmd.on_error;
    std::erase(c.eval_data, "");  // --eval-data '' on a resume: no evaluation
    std::vector<std::string> given;
    for (auto& [name, value] : vm)
      if (!value.defaulted()) given.push_back(name);
    return train::train(c, given);
  });
}

