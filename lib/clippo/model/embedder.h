// Embeds images and text with a CLIPPO checkpoint. No torch in this header
// (pimpl), so tools and libraries that only need embeddings compile fast.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "clippo/io/image.h"

namespace clippo::model {

struct EmbedderOptions {
  int res = 0;                    // 0 = the checkpoint's resolution
  std::string device = "cpu";     // cpu | cuda
  std::string precision = "fp32"; // fp32 | bf16
  int batch = 32;                 // images per batch (bf16 splits it: see embed_inputs)
  int threads = 0;                // torch and OpenBLAS threads (0 = leave as is)
  bool pre_logits = false;        // the pooled features before `head` instead of z
  // Text rendering (lib/clippo/text): fonts (empty = the default Unifont).
  std::vector<std::string> fonts;
};

// A text rendered at the model resolution: gray pixels, res x res.
struct RenderedText {
  int res = 0;
  std::vector<uint8_t> pixels;
};

class Embedder {
 public:
  Embedder(const std::string& checkpoint, EmbedderOptions opt = {});
  ~Embedder();
  Embedder(const Embedder&) = delete;
  Embedder& operator=(const Embedder&) = delete;

  int dim() const;         // rows' width: out_dim, or width with pre_logits
  int resolution() const;
  std::string variant() const;
  const EmbedderOptions& options() const;
  // The "model" object of an embedding stream's `__clippo__` header: path,
  // sha256, variant, resolution, dim, out_dim, pool, pre_logits, precision,
  // and the renderer settings under "render".
  std::string header_json() const;
  std::string config_json() const;

  // rows x dim, row-major. Each call runs in batches of options().batch.
  std::vector<float> embed_images(const std::vector<Image>& images);
  std::vector<float> embed_texts(const std::vector<std::string>& texts);
  // Already preprocessed model inputs: n x 3 x res x res floats in [-1, 1].
  std::vector<float> embed_inputs(const float* chw, size_t n);

  // The model input of one image / one text (thread-safe; what the
  // pipeline's workers call while the model computes).
  void image_input(const Image& image, float* chw) const;
  void text_input(const std::string& text, float* chw) const;
  // Loads the fonts now, not at the first text_input: a font that does not
  // load is then the run's error, not every text record's.
  void load_font() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// SHA-256 of a file as lowercase hex (the checkpoint's identity in headers).
std::string sha256_file(const std::string& path);
// ... and of bytes.
std::string sha256_bytes(std::string_view bytes);

}  // namespace clippo::model
