// Zero-shot classification with text prompts, on vectors: class embedding =
// normalised mean of the normalised embeddings of its prompts; the
// prediction is the class with the highest inner product.
#pragma once
#include <string>
#include <vector>

#include "clippo/search/matrix.h"

namespace clippo::search {

// Groups rows by group id (0..groups-1): each group's normalised mean of its
// normalised rows. Throws Error when a group has no rows.
Matrix mean_embeddings(const Matrix& rows, const std::vector<int64_t>& group, int64_t groups);

struct ZeroShotMetrics {
  int64_t n = 0;  // labelled records
  double top1 = 0, top5 = 0;
  struct Confusion {
    int64_t truth, predicted, count;
  };
  std::vector<Confusion> confusions;  // off-diagonal pairs, most frequent first
  std::vector<double> class_recall;   // per class top-1 (NaN when no record)
};

// preds: top-k class ids per record (k >= 1); labels: class id or -1 (unlabelled).
ZeroShotMetrics zeroshot_metrics(const TopK& preds, const std::vector<int64_t>& labels, int64_t classes);

}  // namespace clippo::search
