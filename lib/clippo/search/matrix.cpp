#include "clippo/search/matrix.h"

#include <cblas.h>
#include <dlfcn.h>
#include <fmt/core.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "clippo/cli/command.h"
#include "clippo/cli/error.h"
#include "clippo/search/heap.h"

namespace clippo::search {

using detail::Heap;
using detail::parallel_for;

namespace {

int g_threads = 0;

}  // namespace

namespace {
void openblas_threads(int n) {
  using SetFn = void (*)(int);
  static auto f = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (f) f(n);
}
}  // namespace

detail::BlasThreads::BlasThreads(int n) { openblas_threads(n); }
detail::BlasThreads::~BlasThreads() { openblas_threads(threads()); }

void set_threads(int n) {
  g_threads = cli::resolve_threads(n);
  omp_set_num_threads(g_threads);  // FAISS
  openblas_threads(g_threads);  // OpenBLAS keeps its own pool; the reference BLAS has no such call
}

int threads() {
  if (g_threads == 0) set_threads(0);
  return g_threads;
}

void normalize_rows(Matrix& m) {
  for (int64_t i = 0; i < m.rows; ++i) {
    float* r = m.row(i);
    double ss = 0;
    for (int j = 0; j < m.dim; ++j) ss += static_cast<double>(r[j]) * r[j];
    if (ss > 0) {
      float inv = static_cast<float>(1.0 / std::sqrt(ss));
      for (int j = 0; j < m.dim; ++j) r[j] *= inv;
    }
  }
}

TopK exact_search(const Matrix& queries, const Matrix& db, int k) {
  if (queries.rows > 0 && db.rows > 0 && queries.dim != db.dim)
    throw Error(fmt::format("queries have {} dimensions but the database has {}", queries.dim, db.dim));
  return exact_search(queries.data.data(), queries.rows, db.data.data(), db.rows, db.dim, k);
}

TopK exact_search(const float* q, int64_t nq, const float* db, int64_t nb, int dim, int k) {
  if (k < 1) throw Error("k must be at least 1");
  TopK out;
  out.nq = nq, out.k = k;
  out.scores.assign(static_cast<size_t>(nq) * k, 0.f);
  out.ids.assign(static_cast<size_t>(nq) * k, -1);
  std::vector<Heap> heaps(nq);
  for (int64_t i = 0; i < nq; ++i) heaps[i] = Heap{out.scores.data() + i * k, out.ids.data() + i * k, k};
  threads();  // applies the thread count to BLAS once
  // Blocks sized so the score tile (qb x bb floats) stays around 16 MB and
  // each SGEMM call is large enough for BLAS to run at full speed.
  const int64_t qb = std::min<int64_t>(std::max<int64_t>(nq, 1), 1024);
  // A smaller database (an IVF quantizer's centroids) gets a tile its size:
  // a fresh tile's pages are faulted in on every call.
  const int64_t bb = std::min<int64_t>(std::max<int64_t>(nb, 1), 4096);
  std::vector<float> tile(static_cast<size_t>(qb) * bb);
  for (int64_t q0 = 0; q0 < nq; q0 += qb) {
    int64_t qn = std::min(qb, nq - q0);
    for (int64_t b0 = 0; b0 < nb; b0 += bb) {
      int64_t bn = std::min(bb, nb - b0);
      if (dim > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(qn), static_cast<int>(bn), dim, 1.f,
                    q + q0 * dim, dim, db + b0 * dim, dim, 0.f, tile.data(), static_cast<int>(bn));
      else
        std::fill(tile.begin(), tile.end(), 0.f);
      parallel_for(qn, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          Heap& h = heaps[q0 + i];
          const float* t = tile.data() + i * bn;
          for (int64_t j = 0; j < bn; ++j)
            if (h.n < h.k || t[j] > h.s[0]) h.push(t[j], b0 + j);
        }
      });
    }
  }
  for (auto& h : heaps) h.sort();
  return out;
}

}  // namespace clippo::search
