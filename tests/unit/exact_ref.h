// The reference the exact-search tests (CPU and device) compare against:
// every score of one query in double, sorted by (score desc, row asc).
#pragma once
#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "clippo/search/matrix.h"

inline std::vector<std::pair<double, int64_t>> ranked_scores(const clippo::search::Matrix& q, int64_t i,
                                                             const clippo::search::Matrix& db) {
  std::vector<std::pair<double, int64_t>> s(db.rows);
  for (int64_t j = 0; j < db.rows; ++j) {
    double d = 0;
    for (int c = 0; c < db.dim; ++c) d += double(q.row(i)[c]) * db.row(j)[c];
    s[j] = {d, j};
  }
  std::sort(s.begin(), s.end(), [](auto& a, auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
  return s;
}
