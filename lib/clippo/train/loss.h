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

// Bidirectional softmax cross-entropy over exp(t) * Za Zb^T, averaged over
// both directions and the global batch N = world * B. za, zb: (B, d)
// L2-normalised embeddings of this rank's pairs (row i of za matches row i
// of zb); t: the log-temperature (a 1-element tensor). Returns this rank's
// share (a scalar): the global loss is its sum over ranks.
torch::Tensor contrastive_loss(const torch::Tensor& za, const torch::Tensor& zb, const torch::Tensor& t, Dist* dist);

}  // namespace clippo::train
