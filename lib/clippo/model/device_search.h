// Exact top-k inner-product search on a torch device: what clippo-knn runs
// for --device cuda. No torch in this header, so the tool compiles fast.
#pragma once
#include <cstdint>
#include <string>

#include "clippo/search/matrix.h"

namespace clippo::model {

struct DeviceSearchOptions {
  std::string device = "cpu";  // cpu | cuda
  int64_t block_rows = 0;      // database rows on the device at a time (0 = about 256 MB of them)
  int64_t query_batch = 0;     // queries per product (0 = a score tile of about 32M entries)
};

// The search::exact_search contract on a device: per query the k best rows,
// best first, equal scores by the lower row, -inf / -1 past the database
// size. The database stays in host memory and goes to the device a block at a
// time; per block a top-k, merged into the running best. Scores are the
// device's float32 products, so a GPU's may differ from the CPU BLAS's in the
// last bits (another summation order); with exact products (quantised
// vectors) ids and scores equal the CPU path's.
class DeviceSearch {
 public:
  // Throws Error when the device cannot be used (no CUDA in this libtorch, no GPU).
  explicit DeviceSearch(DeviceSearchOptions options);

  search::TopK operator()(const float* queries, int64_t nq, const float* db, int64_t nb, int dim, int k) const;

 private:
  DeviceSearchOptions opt_;
};

}  // namespace clippo::model
