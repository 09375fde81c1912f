#include "clippo/search/zeroshot.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "clippo/cli/error.h"

namespace clippo::search {

Matrix mean_embeddings(const Matrix& rows, const std::vector<int64_t>& group, int64_t groups) {
  Matrix out(groups, rows.dim);
  std::vector<int64_t> count(groups, 0);
  std::vector<double> acc(static_cast<size_t>(groups) * rows.dim, 0.0);
  for (int64_t i = 0; i < rows.rows; ++i) {
    int64_t g = group[i];
    const float* r = rows.row(i);
    double ss = 0;
    for (int j = 0; j < rows.dim; ++j) ss += static_cast<double>(r[j]) * r[j];
    double inv = ss > 0 ? 1.0 / std::sqrt(ss) : 0.0;
    for (int j = 0; j < rows.dim; ++j) acc[g * rows.dim + j] += r[j] * inv;
    ++count[g];
  }
  for (int64_t g = 0; g < groups; ++g) {
    if (count[g] == 0) throw Error(fmt::format("class {} has no prompt embeddings", g));
    double ss = 0;
    for (int j = 0; j < rows.dim; ++j) ss += acc[g * rows.dim + j] * acc[g * rows.dim + j];
    double inv = ss > 0 ? 1.0 / std::sqrt(ss) : 0.0;
    for (int j = 0; j < rows.dim; ++j) out.row(g)[j] = static_cast<float>(acc[g * rows.dim + j] * inv);
  }
  return out;
}

ZeroShotMetrics zeroshot_metrics(const TopK& p, const std::vector<int64_t>& labels, int64_t classes) {
  ZeroShotMetrics m;
  std::map<std::pair<int64_t, int64_t>, int64_t> conf;
  std::vector<int64_t> seen(classes, 0), right(classes, 0);
  int64_t h1 = 0, h5 = 0;
  for (int64_t i = 0; i < p.nq; ++i) {
    int64_t y = labels[i];
    if (y < 0) continue;
    ++m.n;
    if (y < classes) ++seen[y];
    if (p.id(i, 0) == y) ++h1, y < classes ? ++right[y] : 0;
    else ++conf[{y, p.id(i, 0)}];
    for (int r = 0; r < std::min(p.k, 5); ++r)
      if (p.id(i, r) == y) {
        ++h5;
        break;
      }
  }
  if (m.n) m.top1 = double(h1) / m.n, m.top5 = double(h5) / m.n;
  for (auto& [pair, n] : conf) m.confusions.push_back({pair.first, pair.second, n});
  std::stable_sort(m.confusions.begin(), m.confusions.end(), [](auto& a, auto& b) { return a.count > b.count; });
  for (int64_t c = 0; c < classes; ++c)
    m.class_recall.push_back(seen[c] ? double(right[c]) / seen[c] : std::numeric_limits<double>::quiet_NaN());
  return m;
}

}  // namespace clippo::search
