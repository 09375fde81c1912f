// Dense row-major float matrices and the exact top-k search over them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace clippo::search {

struct Matrix {
  int64_t rows = 0;
  int dim = 0;
  std::vector<float> data;  // rows x dim

  Matrix() = default;
  Matrix(int64_t r, int d) : rows(r), dim(d), data(static_cast<size_t>(r) * d) {}
  float* row(int64_t i) { return data.data() + i * dim; }
  const float* row(int64_t i) const { return data.data() + i * dim; }
  void append(const float* v) { data.insert(data.end(), v, v + dim), ++rows; }
};

// Scales each row to unit L2 norm; all-zero rows stay zero.
void normalize_rows(Matrix& m);

// The k best rows per query: scores and row ids, nq x k, best first. Rows
// past the database size hold score -inf and id -1.
struct TopK {
  int64_t nq = 0;
  int k = 0;
  std::vector<float> scores;
  std::vector<int64_t> ids;
  float score(int64_t q, int r) const { return scores[q * k + r]; }
  int64_t id(int64_t q, int r) const { return ids[q * k + r]; }
};

// Threads for the search (top-k scans, BLAS, FAISS); 0 = all cores.
void set_threads(int n);
int threads();

// Exact maximum inner product: blocked SGEMM (BLAS) plus a per-query heap.
// Equal scores keep the lower row index first, so results are deterministic.
TopK exact_search(const float* queries, int64_t nq, const float* db, int64_t nb, int dim, int k);
// Throws Error when the dimensions differ.
TopK exact_search(const Matrix& queries, const Matrix& db, int k);

// An exact search with exact_search's arguments and results, run elsewhere
// (clippo-knn --device cuda supplies one from the torch layer).
using SearchFn = std::function<TopK(const float* queries, int64_t nq, const float* db, int64_t nb, int dim, int k)>;

}  // namespace clippo::search
