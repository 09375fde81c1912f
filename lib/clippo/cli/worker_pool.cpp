#include "clippo/cli/worker_pool.h"

#include "clippo/cli/error.h"

namespace clippo {

WorkerPool::WorkerPool(int threads) {
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { loop(); });
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void WorkerPool::run(size_t n, const std::function<void(size_t)>& fn) {
  // One item, or no other thread: the caller does it all.
  const bool wake = n >= 2 && !workers_.empty();
  {
    std::lock_guard lock(mu_);
    if (cancelled_) throw Error("stopped");
    fn_ = &fn, n_ = n, error_ = nullptr;
    next_.store(0);
    busy_ = wake ? workers_.size() : 0;
    if (wake) ++generation_;
  }
  if (wake) cv_.notify_all();
  work();
  std::unique_lock lock(mu_);
  done_.wait(lock, [&] { return busy_ == 0; });
  fn_ = nullptr;
  if (error_) std::rethrow_exception(error_);
  if (cancelled_) throw Error("stopped");
}

void WorkerPool::cancel() {
  std::lock_guard lock(mu_);
  cancelled_ = true;
  next_.store(n_);
}

void WorkerPool::work() {
  try {
    for (size_t i; (i = next_.fetch_add(1)) < n_;) (*fn_)(i);
  } catch (...) {
    std::lock_guard lock(mu_);
    if (!error_) error_ = std::current_exception();
    next_.store(n_);
  }
}

void WorkerPool::loop() {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
    }
    work();
    std::lock_guard lock(mu_);
    if (--busy_ == 0) done_.notify_one();
  }
}

}  // namespace clippo
