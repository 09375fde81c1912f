// Evaluation during training, on a fixed set of held-out records embedded
// with the current model: image<->text Recall@1/5/10 over the records that have
// a caption (records with the same image bytes are one image with several
// captions, as in COCO-style sets), and zero-shot accuracy over those with a `cls` label, from the
// rendered prompts of the class names (as clippo-knn zeroshot computes it;
// restated on tensors here, since training links no FAISS or search code).
#pragma once
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "clippo/cli/error.h"
#include "clippo/model/vit.h"
#include "clippo/text/render.h"

namespace clippo {
class Progress;
}

namespace clippo::train {

struct EvalConfig {
  std::vector<std::string> files;  // expanded --eval-data
  int res = 224;
  std::vector<std::string> fonts;
  int64_t size = 1000;  // records kept
  std::string classes;  // class names (file or bundled list); empty = no zero-shot
  std::string prompts = "clip80";
  bool bf16 = false;  // embed in bfloat16, as clippo-embed --precision bf16 does
  OnError on_error = OnError::skip;  // a damaged shard, an image that does not decode
};

class Evaluator {
 public:
  // Reads and decodes the first `size` usable records once: an image and a
  // caption, or (with classes) an image and a label. Throws Error when there
  // are none, or for a label that is no class index.
  explicit Evaluator(const EvalConfig& cfg);
  // Embeds with clippo-embed's inference path, in float32 or (EvalConfig::bf16) bfloat16.
  // Metric name -> value ("i2t_recall@1", "zeroshot_top1", ...); nullopt
  // when `stop` (asked between batches) says to give up.
  using Stop = std::function<bool()>;
  std::optional<std::vector<std::pair<std::string, double>>> run(model::OneTower& net, int64_t batch = 256,
                                                                 const Stop& stop = {});

 private:
  // Rows of `x` (images, or texts rendered on the fly) embedded batch by
  // batch; nullopt when stopped.
  std::optional<torch::Tensor> embed(model::OneTower& net, int64_t n, int64_t batch,
                                     const std::function<torch::Tensor(int64_t, int64_t)>& inputs, const Stop& stop,
                                     Progress& progress);
  torch::Tensor render(const std::vector<std::string>& texts, int64_t from, int64_t count) const;

  std::shared_ptr<const text::Font> font_;
  text::RenderOptions render_;           // size = the model resolution
  std::vector<torch::Tensor> images_;     // (3, res, res) each: each distinct image once
  std::vector<std::string> captions_;     // each text once, rendered at each run: text costs no memory
  torch::Tensor captioned_;               // the rows of images_ with a caption
  torch::Tensor caption_image_;           // each caption's image, as its index in captioned_
  torch::Tensor caption_texts_;           // its text's row in captions_
  torch::Tensor labels_, labelled_rows_;  // class of each labelled image, and its row
  std::vector<std::string> prompts_;      // class-major: class c, template t at c * T + t
  int64_t classes_ = 0;
  bool bf16_ = false;
};

// Recall@k both ways between L2-normalised images (G, d) and texts (N, d),
// text j being a caption of image text_image[j] (every image has one): an
// image's hit when any of its captions is among the top k texts, a text's
// when its image is among the top k images. Ties go to the earlier row, as
// clippo-knn's top-k breaks them, so identical captions are no free hits.
// nullopt when `stop` (asked between blocks of rows) says to give up.
std::optional<std::vector<std::pair<std::string, double>>> retrieval_recall(const torch::Tensor& images,
                                                                            const torch::Tensor& texts,
                                                                            const torch::Tensor& text_image,
                                                                            const std::function<bool()>& stop = {});

// Top-1 (and top-5 when there are more than 5 classes) accuracy of the
// nearest class embedding (rows of `classes`) for each of `z`.
std::vector<std::pair<std::string, double>> zeroshot_accuracy(const torch::Tensor& z, const torch::Tensor& classes,
                                                              const torch::Tensor& labels);

}  // namespace clippo::train
