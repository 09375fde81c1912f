// Exact top-k: the blocked SGEMM + heap path against a plain double-precision
// loop, ties broken by the lower row, k beyond the database, empty inputs.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "clippo/search/matrix.h"
#include "../exact_ref.h"

using clippo::search::Matrix;
using clippo::search::TopK;

namespace {


}  // namespace

TEST_CASE("exact search matches brute force across block boundaries", "[search]") {
  // 9000 rows span three 4096-row blocks; 1100 queries span two query blocks.
  Matrix db = random_matrix(9000, 40, 1, 0), q = random_matrix(1100, 40, 2, 0);
  for (int k : {1, 7, 64}) {
    TopK t = clippo::search::exact_search(q, db, k);
    REQUIRE(t.nq == q.rows);
    for (int64_t i = 0; i < q.rows; i += 37) {
      auto ref = ranked_scores(q, i, db);
      for (int r = 0; r < k; ++r) {
        CHECK(t.score(i, r) == Approx(ref[r].first).margin(1e-4));
        // a different row is only acceptable for a float near-tie
        if (t.id(i, r) != ref[r].second) CHECK(std::abs(ref[r].first - ref[size_t(r) + 1].first) < 1e-4);
      }
    }
  }
}

TEST_CASE("exact ties keep the lower row first", "[search]") {
  // Integer vectors: every product is exact, and copies make real ties.
  Matrix db = random_matrix(6000, 16, 3, 2), q = random_matrix(50, 16, 4, 2);
  for (int64_t j = 4090; j < 4100; ++j) std::copy(db.row(10), db.row(10) + 16, db.row(j));  // across a block edge
  for (int64_t j = 5000; j < 6000; j += 3) std::copy(db.row(j - 1), db.row(j - 1) + 16, db.row(j));
  TopK t = clippo::search::exact_search(q, db, 30);
  int ties = 0;
  for (int64_t i = 0; i < q.rows; ++i) {
    auto ref = ranked_scores(q, i, db);
    for (int r = 0; r < 30; ++r) {
      REQUIRE(t.id(i, r) == ref[r].second);
      REQUIRE(t.score(i, r) == static_cast<float>(ref[r].first));
      if (r && t.score(i, r) == t.score(i, r - 1)) ++ties;
    }
  }
  CHECK(ties > 100);
}

TEST_CASE("k larger than the database pads with -1", "[search]") {
  Matrix db = random_matrix(3, 4, 5, 2), q = random_matrix(2, 4, 6, 2);
  TopK t = clippo::search::exact_search(q, db, 5);
  for (int64_t i = 0; i < 2; ++i) {
    std::vector<int64_t> got{t.id(i, 0), t.id(i, 1), t.id(i, 2)};
    std::sort(got.begin(), got.end());
    CHECK(got == std::vector<int64_t>{0, 1, 2});
    CHECK(t.id(i, 3) == -1);
    CHECK(t.id(i, 4) == -1);
    CHECK(std::isinf(t.score(i, 4)));
  }
  CHECK(clippo::search::exact_search(Matrix(0, 4), db, 3).nq == 0);
  TopK e = clippo::search::exact_search(q, Matrix(0, 4), 2);
  CHECK(e.id(0, 0) == -1);
  CHECK_THROWS(clippo::search::exact_search(q, Matrix(3, 5), 2));
  CHECK_THROWS(clippo::search::exact_search(q, db, 0));
}

TEST_CASE("normalize_rows gives unit rows and leaves zero rows", "[search]") {
  Matrix m(2, 3);
  m.data = {3, 0, 4, 0, 0, 0};
  clippo::search::normalize_rows(m);
  CHECK(m.data == std::vector<float>{0.6f, 0, 0.8f, 0, 0, 0});
}
