// Evaluation during training: image->text and text->image Recall@1/5 over
// a fixed set of held-out image/text records, embedded with the current model.
#pragma once
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "clippo/model/vit.h"

namespace clippo::train {

class Evaluator {
 public:
  // Decodes the first `size` usable records of `files` once (images and
  // rendered captions), with `threads` torch threads for the embedding.
  Evaluator(const std::vector<std::string>& files, int res, const std::vector<std::string>& fonts, int64_t size,
            int threads);
  std::vector<std::pair<std::string, double>> run(model::OneTower& net, int64_t batch = 256);
  int64_t size() const { return images_.size(0); }

 private:
  torch::Tensor images_, texts_;
};

// Recall@k both ways for matching rows of two L2-normalised (N, d) sets.
std::vector<std::pair<std::string, double>> retrieval_recall(const torch::Tensor& za, const torch::Tensor& zb);

}  // namespace clippo::train
