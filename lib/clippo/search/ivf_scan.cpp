#include "clippo/search/ivf_scan.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/invlists/InvertedLists.h>

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <limits>

#include "clippo/cli/log.h"
#include "clippo/search/heap.h"

namespace clippo::search {

namespace {

// out[g * n + j] = <q[g], x[j]> for G queries and n vectors of d floats.
template <int G>
void dots_generic(const float* const* q, const float* x, int64_t n, int d, float* out) {
  for (int64_t j = 0; j < n; ++j) {
    const float* v = x + j * d;
    for (int g = 0; g < G; ++g) {
      float acc[8] = {};
      int c = 0;
      for (; c + 8 <= d; c += 8)
        for (int l = 0; l < 8; ++l) acc[l] += q[g][c + l] * v[c + l];
      float s = 0;
      for (; c < d; ++c) s += q[g][c] * v[c];
      for (int l = 0; l < 8; ++l) s += acc[l];
      out[g * n + j] = s;
    }
  }
}

typedef float v8f __attribute__((vector_size(32)));

template <int G>
__attribute__((target("avx2,fma"))) void dots_avx2(const float* const* q, const float* x, int64_t n, int d, float* out) {
  for (int64_t j = 0; j < n; ++j) {
    const float* v = x + j * d;
    v8f acc[G] = {};
    int c = 0;
    for (; c + 8 <= d; c += 8) {
      v8f xv;
      std::memcpy(&xv, v + c, sizeof xv);
      for (int g = 0; g < G; ++g) {
        v8f qv;
        std::memcpy(&qv, q[g] + c, sizeof qv);
        acc[g] += qv * xv;
      }
    }
    for (int g = 0; g < G; ++g) {
      float s = 0;
      for (; c < d; ++c) s += q[g][c] * v[c];
      float lanes[8];
      std::memcpy(lanes, &acc[g], sizeof lanes);
      out[g * n + j] = s + ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
      c = d - d % 8;
    }
  }
}

void push_row(detail::Heap& h, const float* s, const faiss::Index::idx_t* ids, int64_t n) {
  for (int64_t j = 0; j < n; ++j)
    if (h.n < h.k || s[j] >= h.s[0]) h.push_any(s[j], ids[j]);
}

// Lists probed by this many queries or more go through SGEMM.
constexpr int64_t kMinGemm = 8;

using DotsFn = void (*)(const float* const*, const float*, int64_t, int, float*);

DotsFn pick(int g) {
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  static const DotsFn a[] = {dots_avx2<1>, dots_avx2<2>, dots_avx2<3>, dots_avx2<4>};
  static const DotsFn b[] = {dots_generic<1>, dots_generic<2>, dots_generic<3>, dots_generic<4>};
  return avx2 ? a[g - 1] : b[g - 1];
}

}  // namespace

bool ivf_flat_search(const faiss::Index& index, const Matrix& q, int k, int nprobe, TopK& out) {
  auto* ivf = dynamic_cast<const faiss::IndexIVFFlat*>(&index);
  if (!ivf || ivf->metric_type != faiss::METRIC_INNER_PRODUCT) return false;
  auto* lists = dynamic_cast<const faiss::ArrayInvertedLists*>(ivf->invlists);
  if (!lists || q.dim != ivf->d) return false;
  const int64_t nq = q.rows;
  const int d = ivf->d;
  const int np = static_cast<int>(std::min<size_t>(nprobe > 0 ? nprobe : ivf->nprobe, ivf->nlist));
  // Coarse assignment: the quantizer is a flat index (a BLAS product).
  std::vector<float> cd(static_cast<size_t>(nq) * np);
  std::vector<faiss::Index::idx_t> ci(static_cast<size_t>(nq) * np);
  auto t0 = std::chrono::steady_clock::now();
  auto* flat = dynamic_cast<const faiss::IndexFlat*>(ivf->quantizer);
  if (nq && flat && flat->metric_type == faiss::METRIC_INNER_PRODUCT) {
    // The same product through the exact search: multi-threaded BLAS, no OpenMP.
    TopK c = exact_search(q.data.data(), nq, flat->get_xb(), flat->ntotal, d, np);
    std::copy(c.ids.begin(), c.ids.end(), ci.begin());
  } else if (nq) {
    ivf->quantizer->search(nq, q.data.data(), np, cd.data(), ci.data());
  }
  auto t1 = std::chrono::steady_clock::now();
  out.nq = nq, out.k = k;
  out.scores.assign(static_cast<size_t>(nq) * k, 0.f);
  out.ids.assign(static_cast<size_t>(nq) * k, -1);
  // Threads take whole lists, each list with every query of the batch that
  // probes it: one SGEMM over all of them, each list read once. (A split by
  // queries gave each thread's SGEMM half the rows, and OpenBLAS ran 31 x 195
  // x 768 products at 60% of the speed of 62-row ones.) Each thread keeps its
  // own top-k of every query, merged at the end; batches bound those heaps
  // (~48 MB).
  const int nt = threads();
  const int64_t batch = std::clamp<int64_t>((int64_t{4} << 20) / (int64_t{nt} * k), 1, std::max<int64_t>(nq, 1));
  detail::BlasThreads one(1);
  std::vector<float> hs(static_cast<size_t>(nt) * batch * k);
  std::vector<int64_t> hi(hs.size());
  for (int64_t b0 = 0; b0 < nq; b0 += batch) {
    const int64_t bn = std::min(batch, nq - b0);
    std::vector<std::vector<int64_t>> by_list(ivf->nlist);
    for (int64_t i = b0; i < b0 + bn; ++i)
      for (int p = 0; p < np; ++p)
        if (ci[i * np + p] >= 0) by_list[ci[i * np + p]].push_back(i);
    // The biggest products first, so the threads finish together.
    std::vector<std::pair<int64_t, size_t>> work;
    for (size_t l = 0; l < by_list.size(); ++l)
      if (int64_t n = static_cast<int64_t>(lists->list_size(l)); n && !by_list[l].empty())
        work.emplace_back(n * static_cast<int64_t>(by_list[l].size()), l);
    std::sort(work.begin(), work.end(), [](auto& a, auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
    std::atomic<size_t> next{0};
    std::vector<std::vector<detail::Heap>> heaps(nt);
    detail::parallel_for(nt, [&](int64_t first, int64_t last) {
      for (int64_t t = first; t < last; ++t) {
        auto& hp = heaps[t];
        for (int64_t i = 0; i < bn; ++i) hp.push_back({hs.data() + (t * batch + i) * k, hi.data() + (t * batch + i) * k, k});
        std::vector<float> qbuf, sbuf;
        for (size_t w; (w = next++) < work.size();) {
          const size_t l = work[w].second;
          const auto& qs = by_list[l];
          const int64_t n = static_cast<int64_t>(lists->list_size(l)), m = static_cast<int64_t>(qs.size());
          auto* x = reinterpret_cast<const float*>(lists->get_codes(l));
          const faiss::Index::idx_t* ids = lists->get_ids(l);
          if (m < kMinGemm) {
            // A few queries: the register-blocked kernel, 4 at a time.
            sbuf.resize(static_cast<size_t>(4) * n);
            for (int64_t g0 = 0; g0 < m; g0 += 4) {
              int g = static_cast<int>(std::min<int64_t>(4, m - g0));
              const float* qp[4];
              for (int u = 0; u < g; ++u) qp[u] = q.row(qs[g0 + u]);
              pick(g)(qp, x, n, d, sbuf.data());
              for (int u = 0; u < g; ++u) push_row(hp[qs[g0 + u] - b0], sbuf.data() + u * n, ids, n);
            }
            continue;
          }
          qbuf.resize(static_cast<size_t>(m) * d);
          sbuf.resize(static_cast<size_t>(m) * n);
          for (int64_t u = 0; u < m; ++u) std::memcpy(qbuf.data() + u * d, q.row(qs[u]), sizeof(float) * d);
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n), d, 1.f,
                      qbuf.data(), d, x, d, 0.f, sbuf.data(), static_cast<int>(n));
          for (int64_t u = 0; u < m; ++u) push_row(hp[qs[u] - b0], sbuf.data() + u * n, ids, n);
        }
      }
    });
    // Each query's best of the threads' bests: the top-k of all its candidates,
    // whichever thread scanned which list.
    detail::parallel_for(bn, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        detail::Heap h{out.scores.data() + (b0 + i) * k, out.ids.data() + (b0 + i) * k, k};
        for (int t = 0; t < nt; ++t)
          for (int e = 0; e < heaps[t][i].n; ++e) h.push_any(heaps[t][i].s[e], heaps[t][i].id[e]);
        h.sort();
      }
    });
  }
  auto secs = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
  log::debug("IVF: {} lists per query; coarse assignment {:.3f} s, list scan {:.3f} s", np, secs(t0, t1),
             secs(t1, std::chrono::steady_clock::now()));
  return true;
}

}  // namespace clippo::search
