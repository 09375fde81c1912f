// The torch exact search (clippo-knn --device cuda) on the CPU device, and on
// CUDA when there is one: against an independent brute force and against the
// CPU exact search, with tiny blocks and query batches so that the per-block
// top-k and the merge run many times, and with data full of exact ties.
// torch first: its logging defines a CHECK that Catch's must replace.
#include <torch/cuda.h>
#undef CHECK
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "clippo/cli/error.h"
#include "clippo/model/device_search.h"
#include "clippo/search/matrix.h"
#include "../exact_ref.h"

using clippo::model::DeviceSearch;
using clippo::model::DeviceSearchOptions;
using clippo::search::Matrix;
using clippo::search::TopK;

namespace {

// Values in {-2..2} / 8 (levels 2) or gaussian (levels 0).
Matrix eighths(int64_t rows, int dim, uint32_t seed, int levels) { return random_matrix(rows, dim, seed, levels, 1.0f / 8); }

// Copies of earlier rows scattered through the matrix (more exact ties).
void duplicate_rows(Matrix& m, uint32_t seed) {
  std::mt19937 rng(seed);
  for (int64_t j = 1; j < m.rows; ++j)
    if (rng() % 3 == 0) {
      int64_t from = rng() % j;
      std::copy(m.row(from), m.row(from) + m.dim, m.row(j));
    }
}

// The reference: every score in double, a full sort by (score desc, row asc),
// padded with -inf / -1 past the database.
TopK brute(const Matrix& q, const Matrix& db, int k) {
  TopK t;
  t.nq = q.rows, t.k = k;
  for (int64_t i = 0; i < q.rows; ++i) {
    auto s = ranked_scores(q, i, db);
    for (int r = 0; r < k; ++r) {
      bool in = r < db.rows;
      t.scores.push_back(in ? static_cast<float>(s[r].first) : -std::numeric_limits<float>::infinity());
      t.ids.push_back(in ? s[r].second : -1);
    }
  }
  return t;
}

TopK device(const Matrix& q, const Matrix& db, int k, int64_t block_rows, int64_t query_batch,
            const std::string& dev = "cpu") {
  DeviceSearchOptions o;
  o.device = dev, o.block_rows = block_rows, o.query_batch = query_batch;
  return DeviceSearch(o)(q.data.data(), q.rows, db.data.data(), db.rows, db.dim, k);
}

// Ids and scores identical (scores compared as floats: -0 == +0).
void require_same(const TopK& got, const TopK& want, const std::string& what) {
  INFO(what);
  REQUIRE(got.nq == want.nq);
  REQUIRE(got.k == want.k);
  for (int64_t i = 0; i < want.nq; ++i)
    for (int r = 0; r < want.k; ++r) {
      INFO("query " << i << " rank " << r);
      REQUIRE(got.id(i, r) == want.id(i, r));
      REQUIRE(got.score(i, r) == want.score(i, r));
    }
}

std::vector<std::string> devices() {
  std::vector<std::string> d{"cpu"};
  if (torch::cuda::is_available()) d.push_back("cuda");
  return d;
}

}  // namespace

TEST_CASE("device exact search equals brute force and the CPU search on exact ties", "[device_search]") {
  for (const auto& dev : devices()) {
    // 257 rows: not a multiple of any block size below; 37 queries: not a
    // multiple of the batches. Few levels in 6 dimensions: scores collide a lot.
    Matrix db = eighths(257, 6, 1, 2), q = eighths(37, 6, 2, 2);
    duplicate_rows(db, 3);
    std::copy(db.row(100), db.row(100) + 6, q.row(0));  // a query equal to a database row
    for (int k : {1, 3, 10, 64, 300}) {
      TopK want = brute(q, db, k);
      require_same(clippo::search::exact_search(q, db, k), want, "CPU exact search vs brute force");
      for (int64_t block : {1, 7, 16, 64, 0})
        for (int64_t batch : {1, 5, 0})
          require_same(device(q, db, k, block, batch, dev), want,
                       dev + " k=" + std::to_string(k) + " block=" + std::to_string(block) + " batch=" + std::to_string(batch));
    }
  }
}

TEST_CASE("device exact search: ties straddling the top-k boundary in every block", "[device_search]") {
  // One value everywhere: every score ties, so the answer is rows 0..k-1;
  // an unstable top-k or a merge that loses row order gets others.
  Matrix db(1000, 4), q(9, 4);
  std::fill(db.data.begin(), db.data.end(), 0.25f);
  std::fill(q.data.begin(), q.data.end(), 0.5f);
  for (int k : {1, 5, 50}) {
    TopK want = brute(q, db, k);
    for (int64_t block : {3, 128, 0}) require_same(device(q, db, k, block, 4), want, "all equal, block " + std::to_string(block));
  }
  // Then a few better rows late in the database, ahead of the ties.
  for (int64_t j : {990, 500, 777}) std::fill(db.row(j), db.row(j) + 4, 0.5f);
  for (int k : {2, 3, 4, 20}) {
    TopK want = brute(q, db, k);
    REQUIRE(want.id(0, 0) == 500);
    for (int64_t block : {3, 128}) require_same(device(q, db, k, block, 2), want, "late winners, block " + std::to_string(block));
  }
}

TEST_CASE("device exact search: zero and negative scores, one dimension", "[device_search]") {
  // -1 x 0 is -0, which must tie with +0 and order by row as on the CPU
  // (whether a product comes out as -0 or +0 is up to the BLAS).
  Matrix db(8, 1), q(2, 1);
  float col[] = {0.f, 0.5f, -0.f, -0.5f, 0.f, 0.5f, -0.25f, 0.f};
  std::copy(col, col + 8, db.data.begin());
  q.data = {-1.f, 1.f};
  for (int k : {1, 4, 8, 9}) {
    TopK want = brute(q, db, k);
    require_same(clippo::search::exact_search(q, db, k), want, "CPU");
    for (int64_t block : {1, 2, 3}) require_same(device(q, db, k, block, 1), want, "torch, block " + std::to_string(block));
  }
}

TEST_CASE("device exact search on float data matches the CPU search up to rounding", "[device_search]") {
  // Gaussian, unit rows, with duplicated rows: the same neighbours and
  // scores, a different row only where two scores are within rounding.
  Matrix db = eighths(3001, 48, 4, 0), q = eighths(70, 48, 5, 0);
  duplicate_rows(db, 6);
  clippo::search::normalize_rows(db);
  clippo::search::normalize_rows(q);
  const int k = 25;
  TopK cpu = clippo::search::exact_search(q, db, k);
  for (auto [block, batch] : {std::pair<int64_t, int64_t>{500, 16}, {0, 0}}) {
    TopK t = device(q, db, k, block, batch);
    for (int64_t i = 0; i < q.rows; ++i)
      for (int r = 0; r < k; ++r) {
        REQUIRE(t.score(i, r) == Approx(cpu.score(i, r)).margin(1e-5));
        if (t.id(i, r) != cpu.id(i, r)) {
          // the row it gave scores what the CPU's does at this rank
          const float* a = db.row(t.id(i, r));
          double s = 0;
          for (int c = 0; c < db.dim; ++c) s += double(a[c]) * q.row(i)[c];
          REQUIRE(s == Approx(cpu.score(i, r)).margin(1e-5));
        }
      }
  }
}

TEST_CASE("device exact search: empty inputs and bad arguments", "[device_search]") {
  Matrix db = eighths(10, 4, 7, 2), q = eighths(3, 4, 8, 2);
  TopK e = device(q, Matrix(0, 4), 2, 0, 0);
  REQUIRE(e.nq == 3);
  CHECK(e.id(2, 1) == -1);
  CHECK(std::isinf(e.score(0, 0)));
  CHECK(device(Matrix(0, 4), db, 5, 0, 0).nq == 0);
  // zero dimensions: every score is 0, rows in order
  require_same(device(Matrix(2, 0), Matrix(5, 0), 3, 2, 1), brute(Matrix(2, 0), Matrix(5, 0), 3), "dim 0");
  CHECK_THROWS_AS(device(q, db, 0, 0, 0), clippo::Error);
  CHECK_THROWS_AS(DeviceSearch({"tpu"}), clippo::UsageError);
  if (!torch::cuda::is_available())
    CHECK_THROWS_WITH(DeviceSearch({"cuda"}), Catch::Contains("--device cuda: this libtorch has no CUDA support"));
}
