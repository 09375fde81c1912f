#include "clippo/train/dist.h"

// Debian's libtorch is built with Gloo but its CMake config does not say so.
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <cstdlib>

#include "clippo/cli/error.h"
#include "clippo/cli/log.h"

namespace clippo::train {

namespace {

const char* envvar(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

int env_int(const char* name, const char* v) {
  try {
    size_t used = 0;
    int x = std::stoi(v, &used);
    if (used != std::string(v).size()) throw std::invalid_argument("");
    return x;
  } catch (...) {
    throw Error(fmt::format("environment variable {}={}: not an integer", name, v));
  }
}

}  // namespace

DistEnv dist_env_from_environment() {
  DistEnv e;
  if (envvar("WORLD_SIZE") && envvar("RANK")) {
    e.source = "torchrun";
    e.world = env_int("WORLD_SIZE", envvar("WORLD_SIZE"));
    e.rank = env_int("RANK", envvar("RANK"));
    if (auto v = envvar("LOCAL_RANK")) e.local_rank = env_int("LOCAL_RANK", v);
  } else if (envvar("SLURM_PROCID") && envvar("SLURM_NTASKS")) {
    e.source = "slurm";
    e.world = env_int("SLURM_NTASKS", envvar("SLURM_NTASKS"));
    e.rank = env_int("SLURM_PROCID", envvar("SLURM_PROCID"));
    if (auto v = envvar("SLURM_LOCALID")) e.local_rank = env_int("SLURM_LOCALID", v);
    // The first host of a plain node list ("node1" or "node[1-4]" -> "node1").
    if (auto v = envvar("SLURM_NODELIST"); v && !envvar("MASTER_ADDR")) {
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
  if (auto v = envvar("MASTER_ADDR")) e.master_addr = v;
  if (auto v = envvar("MASTER_PORT")) e.master_port = env_int("MASTER_PORT", v);
  if (e.world < 1 || e.rank < 0 || e.rank >= e.world)
    throw Error(fmt::format("rank {} of world size {} ({}): out of range", e.rank, e.world, e.source));
  if (e.master_port <= 0 || e.master_port > 65535)
    throw Error(fmt::format("MASTER_PORT={}: not a port", e.master_port));
  return e;
}

struct Dist::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> pg;
};

Dist::Dist(const DistEnv& e, bool cuda) : env_(e), impl_(std::make_unique<Impl>()) {
  if (env_.world == 1) return;
  if (cuda)
    throw Error("multi-process training on CUDA needs a libtorch built with NCCL; this build has Gloo (CPU) only");
  c10d::TCPStoreOptions opts;
  opts.port = static_cast<uint16_t>(env_.master_port);
  opts.isServer = env_.rank == 0;
  opts.numWorkers = env_.world;
  opts.timeout = std::chrono::minutes(5);
  // Newer torchrun keeps its agent's store at MASTER_PORT and tells workers
  // to join it as clients; otherwise rank 0 hosts the store, as env:// does.
  if (auto v = envvar("TORCH_ELASTIC_USE_AGENT_STORE"); v && std::string(v) == "True") opts.isServer = false;
  try {
    auto tcp = c10::make_intrusive<c10d::TCPStore>(env_.master_addr, opts);
    impl_->store = c10::make_intrusive<c10d::PrefixStore>("clippo-train", tcp);
    auto pg_opts = c10d::ProcessGroupGloo::Options::create(std::chrono::minutes(30));
    pg_opts->devices.push_back(env_.master_addr == "127.0.0.1" || env_.master_addr == "localhost"
                                   ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                   : c10d::ProcessGroupGloo::createDefaultDevice());
    impl_->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, env_.rank, env_.world, pg_opts);
  } catch (const std::exception& ex) {
    throw Error(fmt::format("rendezvous at {}:{} (rank {} of {}): {}", env_.master_addr, opts.port, env_.rank,
                            env_.world, ex.what()));
  }
  log::debug("rank {} of {} joined at {}:{} ({})", env_.rank, env_.world, env_.master_addr, opts.port, env_.source);
}

Dist::~Dist() = default;

void Dist::all_reduce_sum(std::vector<torch::Tensor>& tensors) {
  if (!impl_->pg || tensors.empty()) return;
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> flat;
  for (auto& t : tensors) flat.push_back(t.detach().reshape(-1).to(torch::kFloat32));
  std::vector<torch::Tensor> buf{torch::cat(flat)};
  impl_->pg->allreduce(buf)->wait();
  int64_t off = 0;
  for (auto& t : tensors) {
    int64_t n = t.numel();
    t.copy_(buf[0].slice(0, off, off + n).view(t.sizes()));
    off += n;
  }
}

void Dist::all_reduce_sum(torch::Tensor& t) {
  std::vector<torch::Tensor> v{t};
  all_reduce_sum(v);
}

torch::Tensor Dist::all_gather(const torch::Tensor& x) {
  if (!impl_->pg) return x;
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> in{x.detach().contiguous()};
  std::vector<std::vector<torch::Tensor>> out(1);
  for (int r = 0; r < env_.world; ++r) out[0].push_back(torch::empty_like(in[0]));
  impl_->pg->allgather(out, in)->wait();
  return torch::cat(out[0], 0);
}

void Dist::broadcast(torch::Tensor& t) {
  if (!impl_->pg) return;
  std::vector<torch::Tensor> v{t};
  impl_->pg->broadcast(v)->wait();
}

void Dist::barrier() {
  if (impl_->pg) impl_->pg->barrier()->wait();
}

bool Dist::any(bool flag) {
  if (!impl_->pg) return flag;
  auto t = torch::full({1}, flag ? 1.0f : 0.0f);
  all_reduce_sum(t);
  return t.item<float>() > 0;
}

}  // namespace clippo::train
