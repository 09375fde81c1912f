// A fixed set of threads that runs loops over [0, n): the CPU work of every
// tool (rendering, decoding, packing, scanning) goes through one of these.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace clippo {

class WorkerPool {
 public:
  // `threads` in all: the caller of run() works as one of them.
  explicit WorkerPool(int threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Runs fn(i) for every i in [0, n), in any order, and returns when all
  // calls have returned. The first exception leaves the remaining items
  // undone and is rethrown here.
  void run(size_t n, const std::function<void(size_t)>& fn);
  // From any thread: a run in progress leaves its remaining items undone
  // and throws Error; so does every later run.
  void cancel();
  int threads() const { return static_cast<int>(workers_.size()) + 1; }

 private:
  void work();
  void loop();

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_, done_;
  const std::function<void(size_t)>* fn_ = nullptr;
  size_t n_ = 0, busy_ = 0;
  std::atomic<size_t> next_{0};
  uint64_t generation_ = 0;
  bool stop_ = false, cancelled_ = false;
  std::exception_ptr error_;
};

}  // namespace clippo
