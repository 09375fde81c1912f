// Internal to lib/clippo/search: the per-query top-k heap and a small
// parallel loop shared by the exact and the IVF scans.
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "clippo/cli/worker_pool.h"
#include "clippo/search/matrix.h"

namespace clippo::search::detail {

// Sets OpenBLAS's thread count for a scope (no-op with other BLAS libraries).
class BlasThreads {
 public:
  explicit BlasThreads(int n);
  ~BlasThreads();
  BlasThreads(const BlasThreads&) = delete;
  BlasThreads& operator=(const BlasThreads&) = delete;
};

// Runs fn(begin, end) over [0, n) split across the search threads.
template <typename F>
inline void parallel_for(int64_t n, F fn) {
  int t = static_cast<int>(std::min<int64_t>(threads(), n));
  if (t <= 1) {
    fn(int64_t{0}, n);
    return;
  }
  const int64_t step = (n + t - 1) / t;
  WorkerPool pool(t);
  pool.run(static_cast<size_t>(t), [&](size_t i) {
    const int64_t b = static_cast<int64_t>(i) * step, e = std::min(n, b + step);
    if (b < e) fn(b, e);
  });
}

// One query's running top-k: a heap whose root is the worst kept entry.
// Worse = lower score, or the same score and a higher row id.
struct Heap {
  float* s;
  int64_t* id;
  int k, n = 0;

  static bool worse(float sa, int64_t ia, float sb, int64_t ib) { return sa < sb || (sa == sb && ia > ib); }

  void sift_down(int i) {
    for (;;) {
      int l = 2 * i + 1, r = l + 1, m = i;
      if (l < n && worse(s[l], id[l], s[m], id[m])) m = l;
      if (r < n && worse(s[r], id[r], s[m], id[m])) m = r;
      if (m == i) return;
      std::swap(s[i], s[m]), std::swap(id[i], id[m]);
      i = m;
    }
  }
  void sift_up(int i) {
    while (i > 0) {
      int p = (i - 1) / 2;
      if (!worse(s[i], id[i], s[p], id[p])) return;
      std::swap(s[i], s[p]), std::swap(id[i], id[p]);
      i = p;
    }
  }
  // Row ids arrive in increasing order, so a tie with the root loses: only a
  // strictly higher score enters a full heap.
  void push(float score, int64_t row) {
    if (n < k) {
      s[n] = score, id[n] = row;
      sift_up(n++);
    } else if (score > s[0]) {
      s[0] = score, id[0] = row;
      sift_down(0);
    }
  }
  void sort() {
    std::vector<std::pair<float, int64_t>> v(n);
    for (int i = 0; i < n; ++i) v[i] = {s[i], id[i]};
    std::sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
    for (int i = 0; i < k; ++i) {
      s[i] = i < n ? v[i].first : -std::numeric_limits<float>::infinity();
      id[i] = i < n ? v[i].second : -1;
    }
  }
  // For rows in any order: a tie with the root enters when its row is lower.
  void push_any(float score, int64_t row) {
    if (n < k) {
      s[n] = score, id[n] = row;
      sift_up(n++);
    } else if (worse(s[0], id[0], score, row)) {
      s[0] = score, id[0] = row;
      sift_down(0);
    }
  }
};

}  // namespace clippo::search::detail
