// The CLIPPO/CLIP contrastive loss over the global batch.
#pragma once
#include <torch/torch.h>

namespace clippo::train {

class Dist;

// Every rank's x concatenated along dim 0, differentiable: the backward pass
// sums the incoming gradients over ranks and keeps this rank's slice, so
// each rank gets the gradient of the sum of all ranks' losses. Identity for
// a world of one (or dist == nullptr).
torch::Tensor all_gather_with_grad(const torch::Tensor& x, Dist* dist);

struct LossOut {
  torch::Tensor loss;   // this rank's share: the global loss is its sum over ranks
  double global = 0;    // the global loss (summed over ranks; filled by the caller's reduce)
  torch::Tensor logits; // this rank's rows of exp(t) * za_local zb_all^T (for metrics)
};

// Bidirectional softmax cross-entropy over exp(t) * Za Zb^T, averaged over
// both directions and the global batch N = world * B. za, zb: (B, d)
// L2-normalised embeddings of this rank's pairs (row i of za matches row i
// of zb); t: the log-temperature (a 1-element tensor).
LossOut contrastive_loss(const torch::Tensor& za, const torch::Tensor& zb, const torch::Tensor& t, Dist* dist);

}  // namespace clippo::train
