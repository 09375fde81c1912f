// For the exact-search tests (CPU and device): their random data, and the
// reference they compare against.
#pragma once
#include <algorithm>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "clippo/search/matrix.h"

// Gaussian values (levels 0), or integers in -levels..levels times `step`:
// with small integers and a power-of-two step, products are exact in float
// whatever the summation order, so every tie is a real tie.
inline clippo::search::Matrix random_matrix(int64_t rows, int dim, uint32_t seed, int levels, float step = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::uniform_int_distribution<int> small(-levels, levels);
  clippo::search::Matrix m(rows, dim);
  for (auto& v : m.data) v = levels > 0 ? small(rng) * step : normal(rng);
  return m;
}

// Every score of one query in double, sorted by (score desc, row asc).
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
