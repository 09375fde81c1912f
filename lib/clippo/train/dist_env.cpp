#include "clippo/train/dist_env.h"

#include <fmt/core.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "clippo/cli/error.h"

namespace clippo::train {

const char* env_value(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

namespace {

int env_int(const char* name, const char* v) {
  try {
    size_t used = 0;
    int x = std::stoi(v, &used);
    if (used != std::string(v).size()) throw std::invalid_argument("");
    return x;
  } catch (const std::out_of_range&) {
    throw Error(fmt::format("environment variable {}={}: out of range", name, v));
  } catch (...) {
    throw Error(fmt::format("environment variable {}={}: not an integer", name, v));
  }
}

}  // namespace

DistEnv dist_env_from_environment() {
  DistEnv e;
  // Half of torchrun's pair (a hand-written launcher) would train one
  // process alone where several were meant.
  const char *world = env_value("WORLD_SIZE"), *rank = env_value("RANK");
  const bool slurm = env_value("SLURM_PROCID") && env_value("SLURM_NTASKS");  // which gives the rank itself
  if (world && !rank && !slurm && std::string_view(world) != "1")
    throw Error(fmt::format("WORLD_SIZE={} without RANK: set both for each process, as torchrun does", world));
  if (rank && !world && !slurm && std::string_view(rank) != "0")
    throw Error(fmt::format("RANK={} without WORLD_SIZE: set both for each process, as torchrun does", rank));
  if (world && rank) {
    e.source = "torchrun";
    e.world = env_int("WORLD_SIZE", env_value("WORLD_SIZE"));
    e.rank = env_int("RANK", env_value("RANK"));
    if (auto v = env_value("LOCAL_RANK")) e.local_rank = env_int("LOCAL_RANK", v);
    if (auto v = env_value("LOCAL_WORLD_SIZE")) e.local_world = std::max(1, env_int("LOCAL_WORLD_SIZE", v));
  } else if (env_value("SLURM_PROCID") && env_value("SLURM_NTASKS")) {
    e.source = "slurm";
    e.world = env_int("SLURM_NTASKS", env_value("SLURM_NTASKS"));
    e.rank = env_int("SLURM_PROCID", env_value("SLURM_PROCID"));
    if (auto v = env_value("SLURM_LOCALID")) e.local_rank = env_int("SLURM_LOCALID", v);
    // (Set only with --ntasks-per-node; a hint for the thread count alone.)
    if (auto v = env_value("SLURM_NTASKS_PER_NODE")) e.local_world = std::max(1, std::atoi(v));
    // The first host of a plain node list ("node1" or "node[1-4]" -> "node1").
    if (auto v = env_value("SLURM_NODELIST"); v && !env_value("MASTER_ADDR")) {
      std::string list = v;
      list = list.substr(0, list.find(','));
      if (auto b = list.find('['); b != std::string::npos) {
        std::string first = list.substr(b + 1);
        first = first.substr(0, first.find_first_of("-,]"));
        list = list.substr(0, b) + first;
      }
      e.master_addr = list;
    }
  } else {
    return e;
  }
  // A Slurm job of one task (a sweep of one-task jobs on a node) needs no
  // rendezvous, and a shared default port would make them collide.
  if (e.source == "slurm" && e.world == 1) return DistEnv{};
  if (auto v = env_value("MASTER_ADDR")) e.master_addr = v;
  if (auto v = env_value("MASTER_PORT")) e.master_port = env_int("MASTER_PORT", v);
  if (e.world < 1 || e.rank < 0 || e.rank >= e.world)
    throw Error(fmt::format("rank {} of world size {} ({}): out of range", e.rank, e.world, e.source));
  if (e.master_port <= 0 || e.master_port > 65535)
    throw Error(fmt::format("MASTER_PORT={}: not a port", e.master_port));
  return e;
}

std::chrono::seconds rendezvous_timeout() {
  const char* v = env_value("CLIPPO_RENDEZVOUS_TIMEOUT");
  const int s = v ? env_int("CLIPPO_RENDEZVOUS_TIMEOUT", v) : 300;
  if (s < 1) throw Error(fmt::format("environment variable CLIPPO_RENDEZVOUS_TIMEOUT={}: must be >= 1 (seconds)", v));
  return std::chrono::seconds(s);
}

}  // namespace clippo::train
