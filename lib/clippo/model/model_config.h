// The sizes of a CLIPPO ViT: named variants (big_vision's), their names, and
// the checks that they fit together. No torch here, so that option checks
// need none.
#pragma once
#include <cstdint>
#include <string>

namespace clippo::model {

struct ModelConfig {
  int width = 768, depth = 12, heads = 12, mlp_dim = 3072, patch = 16, res = 224, out_dim = 768;
  std::string pool = "map";     // map | gap | tok
  std::string posemb = "learn";  // learn | sincos2d

  // "B/16", "mu/32", "So400m/14" ..., or explicit sizes
  // "wWIDTH-dDEPTH-hHEADS-mMLP/PATCH" (as variant() names a model that is no
  // named variant); res 0 = 224; out_dim 0 = width. Throws Error for a bad one.
  static ModelConfig from_variant(const std::string& variant, int res = 224, int out_dim = 0);
  // "B/16" when the sizes are a named variant, else "w384-d6-h6-m1536/16".
  std::string variant() const;
  std::string to_json() const;
  int grid() const { return res / patch; }
  int tokens() const { return grid() * grid(); }
  // Throws Error when the sizes do not fit together (width % heads, res % patch).
  void validate() const;
  // Parameter count (the arrays a checkpoint holds under params/).
  int64_t num_params() const;
  // Images per inference forward pass for a batch of `batch`: on CPU in bf16,
  // equal parts whose MLP activation stays under 32 MiB (glibc maps larger
  // blocks and faults them in on every allocation: a batch of 32 B/16 images
  // ran 20-25% faster as two of 16; oneDNN's bf16 matmuls are at full speed
  // with far fewer rows). Elsewhere (float32 on OpenBLAS was not faster
  // split, a GPU) the whole batch.
  int64_t inference_chunk(int64_t batch, bool bf16_on_cpu) const;
};

}  // namespace clippo::model
