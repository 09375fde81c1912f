#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "clippo/cli/error.h"
#include "clippo/cli/worker_pool.h"

using namespace clippo;

TEST_CASE("worker pool: every item once, on several threads, run after run") {
  for (int threads : {1, 2, 5}) {
    WorkerPool pool(threads);
    for (size_t n : {0, 1, 2, 3, 1000}) {
      std::vector<std::atomic<int>> seen(n);
      pool.run(n, [&](size_t i) { ++seen[i]; });
      for (size_t i = 0; i < n; ++i) CHECK(seen[i].load() == 1);
    }
  }
}

TEST_CASE("worker pool: several threads really work at once") {
  WorkerPool pool(3);
  std::atomic<int> inside{0}, most{0};
  pool.run(3, [&](size_t) {
    int now = ++inside;
    for (int m = most.load(); now > m && !most.compare_exchange_weak(m, now);) {}
    // Wait (up to 10 s) for the others to arrive.
    for (int i = 0; i < 10000 && most.load() < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    --inside;
  });
  CHECK(most.load() == 3);
}

TEST_CASE("worker pool: the first exception is rethrown and the rest left undone") {
  WorkerPool pool(2);
  std::atomic<size_t> calls{0};
  CHECK_THROWS_WITH(pool.run(100000,
                             [&](size_t i) {
                               ++calls;
                               if (i == 10) throw std::runtime_error("item 10 failed");
                               std::this_thread::sleep_for(std::chrono::microseconds(20));
                             }),
                    "item 10 failed");
  CHECK(calls.load() < 100000);
  // The pool is usable again.
  std::atomic<int> sum{0};
  pool.run(10, [&](size_t i) { sum += static_cast<int>(i); });
  CHECK(sum.load() == 45);
}

TEST_CASE("worker pool: cancel stops a run from another thread, and every later run") {
  WorkerPool pool(2);
  std::atomic<size_t> calls{0};
  std::thread canceller([&] {
    while (calls.load() < 5) std::this_thread::yield();
    pool.cancel();
  });
  CHECK_THROWS_AS(pool.run(1000000,
                           [&](size_t) {
                             ++calls;
                             std::this_thread::sleep_for(std::chrono::microseconds(50));
                           }),
                  Error);
  canceller.join();
  CHECK(calls.load() < 1000000);
  const size_t after = calls.load();
  CHECK_THROWS_AS(pool.run(10, [&](size_t) { ++calls; }), Error);
  CHECK(calls.load() == after);
}
