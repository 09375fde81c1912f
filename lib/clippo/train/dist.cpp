#include "clippo/train/dist.h"

#include "clippo/model/torch_version.h"

// USE_C10D_* declare the process-group classes; libtorch's CMake config sets
// neither. cmake/Dependencies.cmake defines CLIPPO_WITH_GLOO where Gloo's
// headers exist (Debian's libtorch, not the pip wheels) and CLIPPO_WITH_NCCL
// for a CUDA libtorch with NCCL's header.
#ifdef CLIPPO_WITH_GLOO
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef CLIPPO_WITH_NCCL
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL
#endif
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
// The groups' base class, for a build with neither backend.
#if CLIPPO_TORCH_AT_LEAST(2, 0)
#include <torch/csrc/distributed/c10d/Backend.hpp>
#else
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#endif
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <dlfcn.h>
#include <netdb.h>
#include <pthread.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include "clippo/cli/error.h"
#include "clippo/cli/log.h"

namespace clippo::train {

namespace {

// Warns once if the scope lasts longer than `after`: a process whose peers
// never start would otherwise wait minutes without a word.
class SlowNotice {
 public:
  SlowNotice(std::chrono::seconds after, std::string message)
      : thread_([this, after, m = std::move(message)] {
          std::unique_lock lk(mu_);
          if (!cv_.wait_for(lk, after, [&] { return done_; })) log::warn("{}", m);
        }) {}
  ~SlowNotice() {
    {
      std::scoped_lock lk(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;  // last: starts once the rest is ready
};

// Starts a collective (NCCL may throw as it sets up its communicator) and
// waits for it.
template <typename Start>
void wait_for_peers(const Start& start, const char* what) {
  try {
    start()->wait();
  } catch (const std::exception& ex) {
    throw PeerLost(fmt::format("{} with the other processes failed ({}): one of them has stopped or cannot be "
                               "reached; its own messages say why",
                               what, ex.what()));
  }
}

// SIGPIPE blocked while the store and the process group start, and so in
// the threads they start (Gloo's device loop, the group's workers, which do
// every collective's socket writes): Gloo writes with writev, not
// MSG_NOSIGNAL, so a peer that exits would end this process silently by
// SIGPIPE (Python, which PyTorch is used from, ignores it). Blocked, the
// write fails with EPIPE and the collective names the lost peer. The
// calling thread's own SIGPIPE (a stop signal, or stderr gone) is restored.
class SigpipeBlocked {
 public:
  SigpipeBlocked() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeBlocked() {
    const timespec now{0, 0};
    while (sigtimedwait(&pipe_, nullptr, &now) == SIGPIPE) {}  // raised here meanwhile (stderr gone): not a death
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t pipe_, old_;
};

// Debian's libtorch logs through glog, before its c10d throws, what the
// error then says again (a port in use, in three lines, with a banner):
// only fatal lines while the store starts, unless GLOG_minloglevel says
// otherwise. (PyTorch's wheels have no glog: nothing to do.)
class QuietGlog {
 public:
  QuietGlog() {
    if (std::getenv("GLOG_minloglevel")) return;
    level_ = static_cast<int*>(dlsym(RTLD_DEFAULT, "_ZN3fLI17FLAGS_minloglevelE"));
    if (level_) old_ = *level_, *level_ = 3;
  }
  ~QuietGlog() {
    if (level_) *level_ = old_;
  }

 private:
  int* level_ = nullptr;
  int old_ = 0;
};

std::string describe(std::chrono::seconds t) {
  return t.count() % 60 == 0 ? fmt::format("{} minute{}", t.count() / 60, t.count() == 60 ? "" : "s")
                             : fmt::format("{} s", t.count());
}

// Each process marks its rank present (a restarted one marks the same key
// again, where a count would count it twice), then waits for every rank's.
void wait_until_all_joined(c10d::Store& store, int rank, int world, std::chrono::steady_clock::time_point deadline,
                           std::chrono::seconds timeout, const std::function<void()>& marked) {
  std::vector<std::string> keys;
  for (int r = 0; r < world; ++r) keys.push_back(fmt::format("joined/{}", r));
  store.set(keys[rank], std::vector<uint8_t>{1});
  marked();
  while (!store.check(keys)) {
    if (rank != 0 && store.check({Dist::kConfigKey})) return;  // rank 0 could not start: Dist::tell_failure
    if (std::chrono::steady_clock::now() > deadline) {
      const auto joined = std::count_if(keys.begin(), keys.end(), [&](const std::string& k) { return store.check({k}); });
      throw Error(fmt::format("{} of {} processes joined within {}; one that stopped before the rendezvous says "
                              "why in its own messages",
                              joined, world, describe(timeout)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace

// Since 2.0 the Gloo and NCCL groups are c10d::Backends (same collectives).
#if CLIPPO_TORCH_AT_LEAST(2, 0)
using Backend = c10d::Backend;
#else
using Backend = c10d::ProcessGroup;
#endif

struct Dist::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<Backend> pg;
  bool nccl = false;
};

std::string Dist::backends() {
  std::string out;
#ifdef CLIPPO_WITH_GLOO
  out += "gloo";
#endif
#ifdef CLIPPO_WITH_NCCL
  out += out.empty() ? "nccl" : ", nccl";
#endif
  return out.empty() ? "none" : out;
}

std::string Dist::missing_backend(bool cuda) {
#ifdef CLIPPO_WITH_NCCL
  if (cuda) return "";
#endif
#ifndef CLIPPO_WITH_GLOO
  return fmt::format("multi-process training on {} needs {}, which this build of clippo lacks (it has: {})",
                     cuda ? "CUDA" : "CPU", cuda ? "NCCL or Gloo" : "Gloo", backends());
#else
  (void)cuda;
  return "";
#endif
}

namespace {

// Joins the run's TCP store (rank 0 hosts it, unless torchrun's agent does),
// without waiting for the others.
c10::intrusive_ptr<c10d::Store> join_store(const DistEnv& env, std::chrono::seconds timeout) {
  c10d::TCPStoreOptions opts;
  opts.port = static_cast<uint16_t>(env.master_port);
  opts.isServer = env.rank == 0;
  opts.numWorkers = env.world;
  // The store's own wait for the others ends silently at its timeout in some
  // releases, and Gloo would then wait its collective timeout: joined() waits.
  opts.waitWorkers = false;
  opts.timeout = timeout;
  // Newer torchrun keeps its agent's store at MASTER_PORT and tells workers
  // to join it as clients; otherwise rank 0 hosts the store, as env:// does.
  if (auto v = env_value("TORCHELASTIC_USE_AGENT_STORE"); v && std::string(v) == "True") opts.isServer = false;
  auto tcp = c10::make_intrusive<c10d::TCPStore>(env.master_addr, opts);
  // Keys of their own for each attempt of a torchrun job (--max-restarts),
  // whose agent's store outlives the workers: as PyTorch's own workers do.
  const char* attempt = env_value("TORCHELASTIC_RESTART_COUNT");
  return c10::make_intrusive<c10d::PrefixStore>(fmt::format("clippo-train/attempt_{}", attempt ? attempt : "0"), tcp);
}

// The count of the ranks that have read `key`.
std::string readers_key(const std::string& key) { return key + "/read"; }

// MASTER_ADDR looked up before the store is joined, so that a name that
// does not resolve is named as such: looked up again until the deadline, as
// a name may resolve only once its node is up (a Kubernetes service).
void check_host(const std::string& host, std::chrono::steady_clock::time_point deadline) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  for (;;) {
    addrinfo* found = nullptr;
    const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found);
    if (rc == 0) return freeaddrinfo(found);
    const bool not_yet = rc == EAI_AGAIN || rc == EAI_NONAME || rc == EAI_NODATA;
    if (!not_yet || std::chrono::steady_clock::now() + std::chrono::seconds(1) > deadline)
      throw Error(fmt::format("MASTER_ADDR={}: {}", host, gai_strerror(rc)));
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

}  // namespace

Dist::Dist(const DistEnv& e) : env_(e), impl_(std::make_unique<Impl>()) {
  // A launcher's world of one takes the same path as a larger one.
  if (env_.source == "single") return;
  const std::chrono::seconds timeout = rendezvous_timeout();
  const auto deadline = std::chrono::steady_clock::now() + timeout;  // joining the store counts too
  if (env_.rank == 0)
    log::info("rendezvous of {} processes at {}:{} ({}; waits up to {} for all of them)", env_.world,
              env_.master_addr, env_.master_port, env_.source, describe(timeout));
  const SigpipeBlocked sigpipe_blocked;  // (in the thread below too)
  const QuietGlog quiet_glog;
  try {
    std::optional<SlowNotice> notice;
    if (timeout > std::chrono::seconds(10))
      notice.emplace(std::chrono::seconds(10),
                     fmt::format("still waiting for the rendezvous of {} processes at {}:{} after 10 s (every "
                                 "process needs the same MASTER_ADDR and MASTER_PORT; waits up to {})",
                                 env_.world, env_.master_addr, env_.master_port, describe(timeout)));
    check_host(env_.master_addr, deadline);
    // On a thread of its own, as the store's client may wait for ever for
    // an answer that never comes (a program that is not a store holds the
    // port): past the timeout it is left behind, blocked, and this fails.
    // (So it says nothing once this has given up on it.)
    auto waited_for = std::make_shared<std::atomic<bool>>(true);
    auto join = std::make_shared<std::packaged_task<c10::intrusive_ptr<c10d::Store>()>>(
        [env = env_, deadline, timeout, waited_for] {
          auto store = join_store(env, timeout);
          wait_until_all_joined(*store, env.rank, env.world, deadline, timeout, [&] {
            if (*waited_for) log::debug("rank {} of {} is at the rendezvous", env.rank, env.world);
          });
          return store;
        });
    auto joined = join->get_future();
    std::thread([join] { (*join)(); }).detach();
    if (joined.wait_until(deadline + std::chrono::seconds(5)) != std::future_status::ready) {
      *waited_for = false;
      throw Error(fmt::format("no answer within {} (is the port another program's, not a rendezvous?)",
                              describe(timeout)));
    }
    impl_->store = joined.get();
  } catch (const std::exception& ex) {
    const bool taken = std::string_view(ex.what()).find("ddress already in use") != std::string_view::npos;
    throw Error(fmt::format("rendezvous at {}:{} (rank {} of {}): {}{}", env_.master_addr, env_.master_port,
                            env_.rank, env_.world, ex.what(),
                            taken ? " (another job holds this port: give this one its own MASTER_PORT)" : ""));
  }
}

void Dist::tell_failure(const DistEnv& env, const std::string& text) {
  if (env.source == "single" || env.rank != 0) return;
  // Best effort, for a few seconds: the error is rank 0's own to report.
  const SigpipeBlocked sigpipe_blocked;
  const QuietGlog quiet_glog;
  try {
    auto store = join_store(env, std::chrono::seconds(10));
    store->set(fmt::format("joined/{}", env.rank), std::vector<uint8_t>{1});
    store->set(kConfigKey, std::vector<uint8_t>(text.begin(), text.end()));
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (store->add(readers_key(kConfigKey), 0) < env.world - 1 && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } catch (const std::exception& ex) {
    log::debug("telling the other ranks: {}", ex.what());
  }
}

std::string Dist::share_text(const std::string& key, const std::string& text) {
  if (!impl_->store) return text;
  try {
    if (env_.rank == 0) {
      impl_->store->set(key, std::vector<uint8_t>(text.begin(), text.end()));
      return text;
    }
    const auto got = impl_->store->get(key);
    impl_->store->add(readers_key(key), 1);  // what tell_failure waits for
    return std::string(got.begin(), got.end());
  } catch (const std::exception& ex) {
    throw PeerLost(fmt::format("sharing {} through the rendezvous failed ({}): rank 0 has stopped or cannot be "
                               "reached; its own messages say why",
                               key, ex.what()));
  }
}

std::vector<std::string> Dist::gather_text(const std::string& key, const std::string& text) {
  if (!impl_->store) return {text};
  std::vector<std::string> all;
  try {
    impl_->store->set(fmt::format("{}/{}", key, env_.rank), std::vector<uint8_t>(text.begin(), text.end()));
    for (int r = 0; r < env_.world; ++r) {
      const auto got = impl_->store->get(fmt::format("{}/{}", key, r));
      all.emplace_back(got.begin(), got.end());
    }
    // Rank 0 hosts the store: it leaves (on an error, say) once all have read.
    const std::string read = readers_key(key);
    impl_->store->add(read, 1);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (env_.rank == 0 && impl_->store->add(read, 0) < env_.world && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  } catch (const std::exception& ex) {
    throw PeerLost(fmt::format("gathering {} through the rendezvous failed ({}): one of the processes has stopped "
                               "or cannot be reached; its own messages say why",
                               key, ex.what()));
  }
  return all;
}

void Dist::wait_for_main(const std::string& key, const std::function<bool()>& stop) {
  if (!impl_->store) return;
  const SigpipeBlocked sigpipe_blocked;  // (a write to a store that is gone)
  try {
    if (is_main()) return impl_->store->set(key, std::vector<uint8_t>{1});
    // Asked again and again: a get would end at the store's timeout. When
    // rank 0, which hosts the store, is gone, the asking fails.
    for (bool told = false; !impl_->store->check({key});) {
      if (!told && stop && stop()) impl_->store->set(key + "/stop", std::vector<uint8_t>{1}), told = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  } catch (const std::exception& ex) {
    throw PeerLost(fmt::format("waiting for rank 0 ({}) failed ({}): rank 0 has stopped or cannot be reached; its "
                               "own messages say why",
                               key, ex.what()));
  }
}

bool Dist::stop_asked(const std::string& key) {
  if (!impl_->store || !is_main()) return false;
  try {
    return impl_->store->check({key + "/stop"});
  } catch (const std::exception&) {  // (rank 0 hosts the store: not lost)
    return false;
  }
}

void Dist::start(bool cuda) {
  if (!impl_->store) return;
  if (impl_->pg) throw std::logic_error("Dist::start: started already");
  if (auto why = missing_backend(cuda); !why.empty()) throw Error(why);
#ifdef CLIPPO_WITH_NCCL
  impl_->nccl = cuda;
#endif
  // Collectives run on the rank's GPU with NCCL; Gloo works in host memory
  // (CUDA training without NCCL copies through it).
  if (impl_->nccl) dev_ = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(env_.local_rank));
  // A step's collectives take seconds; rank 0's slow checkpoint writes and
  // reads (NCCL's setup waits on the store meanwhile) may take minutes.
  // (Its evaluation the others wait out in wait_for_main.)
  const auto collective_timeout = std::chrono::minutes(30);
  const SigpipeBlocked sigpipe_blocked;
  try {
    impl_->store->setTimeout(collective_timeout);
#ifdef CLIPPO_WITH_NCCL
    if (impl_->nccl) {
      c10::cuda::set_device(dev_.index());
      auto pg_opts = c10d::ProcessGroupNCCL::Options::create();
      pg_opts->timeout = collective_timeout;
      impl_->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(impl_->store, env_.rank, env_.world, pg_opts);
    }
#endif
#ifdef CLIPPO_WITH_GLOO
    if (!impl_->nccl) {
      if (cuda) log::info("multi-process CUDA training through Gloo in host memory (this libtorch has no NCCL)");
      auto pg_opts = c10d::ProcessGroupGloo::Options::create(collective_timeout);
      pg_opts->devices.push_back(env_.master_addr == "127.0.0.1" || env_.master_addr == "localhost"
                                     ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                     : c10d::ProcessGroupGloo::createDefaultDevice());
      impl_->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, env_.rank, env_.world, pg_opts);
    }
#endif
  } catch (const std::exception& ex) {
    throw PeerLost(fmt::format("starting the process group (rank {} of {}) failed ({}): one of the processes has "
                               "stopped or cannot be reached; its own messages say why",
                               env_.rank, env_.world, ex.what()));
  }
  log::debug("rank {} of {} joined at {}:{} ({}, {})", env_.rank, env_.world, env_.master_addr, env_.master_port,
             env_.source, impl_->nccl ? "nccl" : "gloo");
}

bool Dist::grouped() const {
  if (!impl_->store) return false;  // one process: collectives are no-ops
  if (!impl_->pg) throw std::logic_error("Dist: a collective before start()");
  return true;
}

Dist::~Dist() {
#if defined(CLIPPO_WITH_NCCL) && CLIPPO_TORCH_AT_LEAST(2, 2)
  // NCCL groups are shut down explicitly before destruction (newer releases
  // warn otherwise).
  if (impl_->pg && impl_->nccl) {
    try {
      static_cast<c10d::ProcessGroupNCCL*>(impl_->pg.get())->shutdown();
    } catch (const std::exception& ex) {
      log::warn("NCCL shutdown: {}", ex.what());
    }
  }
#endif
}

void Dist::all_reduce_sum(std::vector<torch::Tensor>& tensors) {
  if (!grouped() || tensors.empty()) return;
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> flat;
  for (auto& t : tensors) flat.push_back(t.detach().reshape(-1).to(dev_, torch::kFloat32));
  std::vector<torch::Tensor> buf{torch::cat(flat)};
  wait_for_peers([&] { return impl_->pg->allreduce(buf); }, "a sum");
  int64_t off = 0;
  for (auto& t : tensors) {
    int64_t n = t.numel();
    t.copy_(buf[0].slice(0, off, off + n).view(t.sizes()));
    off += n;
  }
}

void Dist::all_reduce_sum(torch::Tensor& t) {
  if (!grouped()) return;
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> buf{t.detach().to(dev_).contiguous()};
  wait_for_peers([&] { return impl_->pg->allreduce(buf); }, "a sum");
  if (!buf[0].is_same(t)) t.copy_(buf[0]);
}

torch::Tensor Dist::all_gather(const torch::Tensor& x) {
  if (!grouped()) return x;
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> in{x.detach().to(dev_).contiguous()};
  std::vector<std::vector<torch::Tensor>> out(1);
  for (int r = 0; r < env_.world; ++r) out[0].push_back(torch::empty_like(in[0]));
  wait_for_peers([&] { return impl_->pg->allgather(out, in); }, "a gather");
  return torch::cat(out[0], 0).to(x.device());
}

void Dist::broadcast(torch::Tensor& t) {
  if (!grouped()) return;
  std::vector<torch::Tensor> v{t.to(dev_)};
  wait_for_peers([&] { return impl_->pg->broadcast(v); }, "a broadcast");
  if (!v[0].is_same(t)) t.copy_(v[0]);
}

void Dist::barrier() {
  if (!grouped()) return;
  c10d::BarrierOptions opts;
  // NCCL would guess the GPU from the rank (and warn) before the first
  // collective names it; across nodes the guess can be another GPU.
  if (impl_->nccl) opts.device_ids = {dev_.index()};
  wait_for_peers([&] { return impl_->pg->barrier(opts); }, "a barrier");
}

bool Dist::any(bool flag) {
  if (!grouped()) return flag;
  auto t = torch::full({1}, flag ? 1.0f : 0.0f, torch::TensorOptions().device(dev_));
  all_reduce_sum(t);
  return t.item<float>() > 0;
}

}  // namespace clippo::train
