// IVF-Flat search with a vectorised list scan. Debian's FAISS is built for
// baseline x86-64, and its list scan runs at well under 1 GFLOP/s, slower
// per vector than the exact BLAS search; this scan groups the queries that
// probe a list and computes their inner products 4 queries at a time with
// AVX2/FMA when the CPU has it.
#pragma once
#include "clippo/search/matrix.h"

namespace faiss {
struct Index;
}

namespace clippo::search {

// Searches an IndexIVFFlat (inner product, array inverted lists) visiting
// nprobe lists per query (0 = the index's own nprobe). Returns false, leaving
// `out` alone, for any other kind of index. Ties keep the lower id first.
bool ivf_flat_search(const faiss::Index& index, const Matrix& queries, int k, int nprobe, TopK& out);

}  // namespace clippo::search
