// The environment that a launcher (torchrun, Slurm) gives each process of
// a multi-process run: its rank, the world, where the rendezvous is.
#pragma once
#include <chrono>
#include <string>

namespace clippo::train {

struct DistEnv {
  int rank = 0, world = 1, local_rank = 0;
  int local_world = 1;  // processes on this node (torchrun's LOCAL_WORLD_SIZE)
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string source = "single";  // "torchrun", "slurm" or "single"
};

// Reads RANK/WORLD_SIZE/LOCAL_RANK/LOCAL_WORLD_SIZE/MASTER_ADDR/MASTER_PORT,
// else SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID/SLURM_NTASKS_PER_NODE
// (+ MASTER_ADDR, or the first host of SLURM_NODELIST: "node[1-4]" gives
// node1), else a world of one. Throws Error for inconsistent values.
DistEnv dist_env_from_environment();

// How long the processes wait for each other to start: 5 minutes, or
// CLIPPO_RENDEZVOUS_TIMEOUT seconds (nodes that start slowly).
std::chrono::seconds rendezvous_timeout();

// An environment variable's value; nullptr when it is unset or empty.
const char* env_value(const char* name);

}  // namespace clippo::train
