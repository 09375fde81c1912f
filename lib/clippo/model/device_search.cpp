#include "clippo/model/device_search.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <fmt/core.h>
#include <torch/cuda.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "clippo/cli/error.h"
#include "clippo/model/device.h"

namespace clippo::model {

namespace {

constexpr int64_t kBlockBytes = int64_t{256} << 20;  // database vectors on the device at a time
constexpr int64_t kTileEntries = int64_t{32} << 20;   // scores per product (their keys take 3x that)

// One int64 per score whose descending order is (score desc, tiebreak asc):
// the float's bits made monotonic as a signed int32 in the high half, the
// complement of the tiebreak (a column, < 2^32) in the low half. torch's
// top-k is not stable, so equal scores must not compare equal; with these
// keys none do. -0 and +0 get the same high half (equal scores on the CPU too).
at::Tensor order_keys(const at::Tensor& scores, const at::Tensor& tiebreak) {
  at::Tensor bits = scores.contiguous().view(at::kInt);
  // Negative floats order backwards as integers: flip their magnitude bits.
  // +1 maps -0 (0x80000000 -> -1) onto +0 and keeps every other value apart.
  at::Tensor ord = at::where(bits < 0, bits.bitwise_xor(0x7FFFFFFF) + 1, bits).to(at::kLong);
  return ord.mul_(int64_t{1} << 32).add_((int64_t{1} << 32) - 1).sub_(tiebreak);
}

// The best k columns of each row by (score desc, column asc), best first.
at::Tensor top_columns(const at::Tensor& s, int64_t k) {
  const int64_t n = s.size(1);
  k = std::min(k, n);
  if (k < n) {
    // Usually a plain top-k of k+1 settles it: where the k-th score is above
    // the (k+1)-th in every row, no tie crosses the boundary, so these k
    // columns are the answer and only their order among equal scores is left.
    // (-0 vs +0 and NaN fail the test and take the general path.)
    auto [v, c] = s.topk(k + 1, 1, /*largest=*/true, /*sorted=*/true);
    if (at::gt(v.select(1, k - 1), v.select(1, k)).all().item<bool>()) {
      v = v.narrow(1, 0, k), c = c.narrow(1, 0, k);
      return c.gather(1, std::get<1>(order_keys(v, c).sort(1, /*descending=*/true)));
    }
  }
  // A tie across the boundary: keys for the whole row.
  at::Tensor cols = at::arange(n, s.options().dtype(at::kLong));
  return std::get<1>(order_keys(s, cols).topk(k, 1, /*largest=*/true, /*sorted=*/true));
}

at::Tensor upload(const float* p, int64_t rows, int dim, const at::Device& dev) {
  // from_blob only reads here: the tensor is copied to the device or multiplied in place.
  return at::from_blob(const_cast<float*>(p), {rows, dim}, at::TensorOptions().dtype(at::kFloat)).to(dev);
}

}  // namespace

DeviceSearch::DeviceSearch(DeviceSearchOptions options) : opt_(std::move(options)) { torch_device(opt_.device); }

search::TopK DeviceSearch::operator()(const float* q, int64_t nq, const float* db, int64_t nb, int dim, int k) const {
  if (k < 1) throw Error("k must be at least 1");
  const at::Device dev = torch_device(opt_.device);
  // Scores must be float32 products like the CPU's, not TF32 ones.
  if (dev.is_cuda()) at::globalContext().setAllowTF32CuBLAS(false);
  search::TopK out;
  out.nq = nq, out.k = k;
  out.scores.assign(static_cast<size_t>(nq) * k, -std::numeric_limits<float>::infinity());
  out.ids.assign(static_cast<size_t>(nq) * k, -1);
  if (nq == 0 || nb == 0) return out;
  c10::InferenceMode no_grad;
  const int64_t row_bytes = int64_t{4} * std::max(dim, 1);
  // Block columns are key tiebreaks, below 2^32.
  const int64_t bb = std::min({nb, opt_.block_rows > 0 ? opt_.block_rows : std::max<int64_t>(1, kBlockBytes / row_bytes),
                               int64_t{1} << 31});
  const int64_t qb = std::min(nq, opt_.query_batch > 0 ? opt_.query_batch : std::max<int64_t>(1, kTileEntries / bb));
  // Queries stay on the device when they are no bigger than a block.
  const bool resident = nq * row_bytes <= kBlockBytes;
  at::Tensor qall = resident ? upload(q, nq, dim, dev) : at::Tensor();
  // The running best of each query batch: scores and rows, (score desc, row asc).
  std::vector<at::Tensor> best_s((nq + qb - 1) / qb), best_i(best_s.size());
  for (int64_t b0 = 0; b0 < nb; b0 += bb) {
    const int64_t bn = std::min(bb, nb - b0);
    at::Tensor block = upload(db + b0 * dim, bn, dim, dev);
    for (int64_t q0 = 0, n = 0; q0 < nq; q0 += qb, ++n) {
      const int64_t qn = std::min(qb, nq - q0);
      at::Tensor qt = resident ? qall.narrow(0, q0, qn) : upload(q + q0 * dim, qn, dim, dev);
      at::Tensor s = at::mm(qt, block.t());
      at::Tensor col = top_columns(s, k);
      at::Tensor sc = s.gather(1, col), id = col.add_(b0);
      if (!best_s[n].defined()) {
        best_s[n] = sc, best_i[n] = id;
        continue;
      }
      // Merge by position in [best | block]: the kept rows all precede this
      // block's, and each side lists equal scores by ascending row, so among
      // equal scores position order is row order and ties break as on the CPU.
      at::Tensor cs = at::cat({best_s[n], sc}, 1), ci = at::cat({best_i[n], id}, 1);
      at::Tensor keep = top_columns(cs, k);
      best_s[n] = cs.gather(1, keep), best_i[n] = ci.gather(1, keep);
    }
  }
  for (size_t n = 0; n < best_s.size(); ++n) {
    at::Tensor s = best_s[n].to(at::kCPU).contiguous(), i = best_i[n].to(at::kCPU).contiguous();
    const int64_t q0 = static_cast<int64_t>(n) * qb, w = s.size(1);
    const float* sp = s.data_ptr<float>();
    const int64_t* ip = i.data_ptr<int64_t>();
    for (int64_t r = 0; r < s.size(0); ++r) {
      std::copy(sp + r * w, sp + (r + 1) * w, out.scores.begin() + (q0 + r) * k);
      std::copy(ip + r * w, ip + (r + 1) * w, out.ids.begin() + (q0 + r) * k);
    }
  }
  return out;
}

}  // namespace clippo::model
