#include "clippo/train/eval.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <unordered_map>

#include "clippo/cli/bad_input.h"
#include "clippo/cli/error.h"
#include "clippo/cli/log.h"
#include "clippo/cli/progress.h"
#include "clippo/io/image.h"
#include "clippo/io/record_reader.h"
#include "clippo/model/embedder.h"
#include "clippo/text/prompts.h"

namespace clippo::train {

namespace {

namespace F = torch::nn::functional;

torch::Tensor unit_rows(const torch::Tensor& x) { return F::normalize(x, F::NormalizeFuncOptions().dim(1)); }

}  // namespace

Evaluator::Evaluator(const EvalConfig& cfg) : font_(text::Font::load(cfg.fonts)), bf16_(cfg.bf16) {
  render_.size = cfg.res;
  if (!cfg.classes.empty()) {
    auto names = text::load_classes(cfg.classes);
    auto templates = text::load_templates(cfg.prompts);
    prompts_ = text::fill_templates(names, templates);
    classes_ = static_cast<int64_t>(names.size());
  }
  const std::string where = "--eval-data " + cfg.files.front();
  RecordReader reader(cfg.files, cfg.on_error);
  std::vector<torch::Tensor> imgs;
  std::vector<int64_t> caption_rows, caption_texts, labels, labelled_rows;
  std::unordered_map<std::string, int64_t> text_index;  // a caption's row in captions_
  // An image's row in imgs, by the SHA-256 of its bytes: records of one
  // image (one a caption) are one image.
  std::unordered_map<std::string, int64_t> image_index;
  int64_t records = 0;
  BadInput undecodable(cfg.on_error, 10);
  Record r;
  bool all_read = false;  // every record of the data was read
  while (records < cfg.size) {
    if (!reader.next(r)) {
      all_read = true;
      break;
    }
    auto* im = find_image(r);
    auto* cap = r.find("txt");
    auto* cls = classes_ ? r.find("cls") : nullptr;
    if (!im || (!cap && !cls)) continue;
    const int64_t label = cls ? class_index(*cls).value_or(-1) : -1;
    if (cls && (label < 0 || label >= classes_))
      throw Error(fmt::format("{}: {}: cls '{}' is not a class index of --eval-classes {} ({} classes)",
                              reader.current_input(), r.key, *cls, cfg.classes, classes_));
    const std::string image_hash = model::sha256_bytes(im->second);
    int64_t row;
    if (auto it = image_index.find(image_hash); it != image_index.end()) {
      row = it->second;
    } else {
      auto a = torch::empty({3, cfg.res, cfg.res});
      try {
        to_model_input(decode_image(im->second), cfg.res, a.data_ptr<float>());
      } catch (const Error& e) {
        undecodable.report(fmt::format("{}: {}", reader.current_input(), r.key), e.what());
        continue;
      }
      row = static_cast<int64_t>(imgs.size());
      // A bf16 run's model takes its patches in bf16, so they are kept so:
      // half the memory (ImageNet's 50,000 at 224 px: 15 GB), the same results.
      imgs.push_back(bf16_ ? a.to(torch::kBFloat16) : a);
      image_index.emplace(image_hash, row);
    }
    ++records;
    if (cap) {
      const auto [it, added] = text_index.emplace(*cap, static_cast<int64_t>(captions_.size()));
      if (added) captions_.push_back(*cap);
      caption_rows.push_back(row), caption_texts.push_back(it->second);
    }
    if (label >= 0) labels.push_back(label), labelled_rows.push_back(row);
  }
  if (imgs.empty())
    throw Error(fmt::format("{}: no records with an image and {}", where,
                            classes_ ? "a caption (txt) or a label (cls)" : "a caption (txt)"));
  if (classes_ && labels.empty())
    throw Error(fmt::format("{}: no record has a cls label for --eval-classes {}", where, cfg.classes));
  if (classes_) {
    // The first records of a class-sorted set (ImageNet's validation shards)
    // hold a few classes only: say so, as the accuracy is over those.
    std::vector<bool> seen(classes_);
    for (int64_t y : labels) seen[y] = true;
    if (const auto n = std::count(seen.begin(), seen.end(), true); n < classes_) {
      // Exactly --eval-size records there? A peek at one more tells.
      if (!all_read) {
        try {
          all_read = !reader.next(r);
        } catch (const Error&) {  // damage past what is evaluated is not this evaluation's
        }
      }
      log::warn("{}: the {} labelled records evaluated hold {} of the {} classes{}", where, labels.size(), n, classes_,
                all_read ? "" : " (shuffle the shards or raise --eval-size for all of them)");
    }
  }
  auto index = [](const std::vector<int64_t>& v) { return torch::tensor(v, torch::kInt64); };
  // The images with captions, numbered in the order of their rows.
  std::vector<bool> has_caption(imgs.size());
  for (int64_t row : caption_rows) has_caption[row] = true;
  std::vector<int64_t> captioned, number(imgs.size(), -1), caption_image;
  for (size_t row = 0; row < imgs.size(); ++row)
    if (has_caption[row]) number[row] = static_cast<int64_t>(captioned.size()), captioned.push_back(static_cast<int64_t>(row));
  for (int64_t row : caption_rows) caption_image.push_back(number[row]);
  captioned_ = index(captioned);
  caption_image_ = index(caption_image);
  caption_texts_ = index(caption_texts);
  labels_ = index(labels);
  labelled_rows_ = index(labelled_rows);
  log::info("evaluating on {} held-out records{}: {} with captions{}{}{}", records,
            records < cfg.size ? fmt::format(" (all there are; --eval-size {})", cfg.size) : std::string(),
            caption_rows.size(),
            static_cast<int64_t>(imgs.size()) < records ? fmt::format(" of {} distinct images", captioned.size())
                                                        : std::string(),
            classes_ ? fmt::format(", {} labelled ({} classes, {} prompts)", labels.size(), classes_, prompts_.size())
                     : std::string(),
            undecodable.total() ? fmt::format("; {} undecodable images skipped", undecodable.total()) : std::string());
  images_ = std::move(imgs);  // (stacked a batch at a time: all at once would need twice the memory)
}

torch::Tensor Evaluator::render(const std::vector<std::string>& texts, int64_t from, int64_t count) const {
  const int res = render_.size;
  const int64_t per = 3LL * res * res;
  auto x = torch::empty({count, 3, res, res});
  float* p = x.data_ptr<float>();
  at::parallel_for(0, count, 1, [&](int64_t b, int64_t e) {
    for (int64_t j = b; j < e; ++j) text::render_model_input(texts[from + j], *font_, render_, p + j * per);
  });
  return x;
}

std::optional<torch::Tensor> Evaluator::embed(model::OneTower& net, int64_t n, int64_t batch,
                                              const std::function<torch::Tensor(int64_t, int64_t)>& inputs,
                                              const Stop& stop, Progress& progress) {
  std::vector<torch::Tensor> z;
  for (int64_t i = 0; i < n; i += batch) {
    if (stop && stop()) return std::nullopt;
    const int64_t m = std::min(n - i, batch);
    z.push_back(net->forward(inputs(i, m).to(net->t.device())).z.to(torch::kCPU, torch::kFloat32));
    progress.add(static_cast<uint64_t>(m));
  }
  return torch::cat(z);
}

std::optional<std::vector<std::pair<std::string, double>>> retrieval_recall(const torch::Tensor& images,
                                                                            const torch::Tensor& texts,
                                                                            const torch::Tensor& text_image,
                                                                            const std::function<bool()>& stop) {
  // Blocks of query rows: memory of about 2^24 scores, however many records,
  // and a stop signal is heard between blocks. A query's rank: the columns
  // that score higher than its best match, and those that tie with it and
  // come before it.
  auto ranks = [&](const torch::Tensor& q, const torch::Tensor& db, const auto& best_match) -> std::optional<torch::Tensor> {
    const int64_t n = q.size(0), cols = db.size(0);
    const int64_t block = std::max<int64_t>(1, (int64_t{1} << 24) / std::max<int64_t>(1, cols));
    auto col = torch::arange(cols).unsqueeze(0);
    std::vector<torch::Tensor> out;
    for (int64_t r0 = 0; r0 < n; r0 += block) {
      if (stop && stop()) return std::nullopt;
      const int64_t m = std::min(block, n - r0);
      auto s = torch::matmul(q.slice(0, r0, r0 + m), db.t());  // (m, cols)
      auto [best, at] = best_match(s, r0, m);                   // (m, 1) each
      out.push_back((s > best).sum(1) + ((s == best) & (col < at)).sum(1));
    }
    return torch::cat(out);
  };
  // Image -> text: the best of the image's captions (the first, of those that tie).
  auto i2t = ranks(images, texts, [&](const torch::Tensor& s, int64_t r0, int64_t m) {
    auto mine = text_image.unsqueeze(0) == torch::arange(r0, r0 + m).unsqueeze(1);
    auto [best, at] = s.masked_fill(~mine, -std::numeric_limits<float>::infinity()).max(1, /*keepdim=*/true);
    return std::pair{best, at};
  });
  if (!i2t) return std::nullopt;
  // Text -> image: its own image.
  auto t2i = ranks(texts, images, [&](const torch::Tensor& s, int64_t r0, int64_t m) {
    auto at = text_image.slice(0, r0, r0 + m).unsqueeze(1);
    return std::pair{s.gather(1, at), at};
  });
  if (!t2i) return std::nullopt;
  std::vector<std::pair<std::string, double>> out;
  for (auto [name, rank] : {std::pair{"i2t", *i2t}, {"t2i", *t2i}})
    for (int k : {1, 5, 10})
      out.emplace_back(fmt::format("{}_recall@{}", name, k), (rank < k).to(torch::kFloat64).mean().item<double>());
  return out;
}

std::vector<std::pair<std::string, double>> zeroshot_accuracy(const torch::Tensor& z, const torch::Tensor& classes,
                                                              const torch::Tensor& labels) {
  const int64_t c = classes.size(0);
  auto top = std::get<1>(torch::matmul(z, classes.t()).topk(std::min<int64_t>(5, c), 1));
  auto hit = top.eq(labels.unsqueeze(1));
  std::vector<std::pair<std::string, double>> out{
      {"zeroshot_top1", hit.select(1, 0).to(torch::kFloat64).mean().item<double>()}};
  if (c > 5) out.emplace_back("zeroshot_top5", hit.any(1).to(torch::kFloat64).mean().item<double>());
  return out;
}

std::optional<std::vector<std::pair<std::string, double>>> Evaluator::run(model::OneTower& net, int64_t batch,
                                                                          const Stop& stop) {
  torch::NoGradGuard ng;
  const bool was_training = net->is_training();
  net->eval();
  // clippo-embed's inference path (fused kernels) on a copy of the weights,
  // dropped again when done.
  struct Inference {
    model::OneTower& net;
    Inference(model::OneTower& n, bool bf16) : net(n) { net->prepare_inference(bf16 ? torch::kBFloat16 : torch::kFloat); }
    ~Inference() { net->clear_inference(); }
  } inference(net, bf16_);
  struct Restore {
    model::OneTower& net;
    bool training;
    ~Restore() {
      if (training) net->train();
    }
  } restore{net, was_training};
  batch = net->config().inference_chunk(batch, bf16_ && net->t.device().is_cpu());
  const auto n_captions = static_cast<int64_t>(captions_.size()), n_prompts = static_cast<int64_t>(prompts_.size());
  const auto n_images = static_cast<int64_t>(images_.size());
  Progress progress("eval", static_cast<uint64_t>(n_images + n_captions + n_prompts));
  auto z = embed(net, n_images, batch, [&](int64_t i, int64_t m) { return torch::stack(at::TensorList(images_).slice(i, m)); },
                 stop, progress);
  if (!z) return std::nullopt;
  std::vector<std::pair<std::string, double>> out;
  if (n_captions) {
    auto zt = embed(net, n_captions, batch, [&](int64_t i, int64_t m) { return render(captions_, i, m); }, stop,
                    progress);
    if (!zt) return std::nullopt;
    // Repeated captions share one embedding, so they tie exactly.
    auto r = retrieval_recall(z->index_select(0, captioned_), zt->index_select(0, caption_texts_), caption_image_,
                              stop);
    if (!r) return std::nullopt;
    out = std::move(*r);
  }
  if (classes_) {
    auto zp = embed(net, n_prompts, batch, [&](int64_t i, int64_t m) { return render(prompts_, i, m); }, stop,
                    progress);
    if (!zp) return std::nullopt;
    // Class embedding: the normalised mean of its normalised prompt embeddings.
    auto cls = unit_rows(unit_rows(*zp).view({classes_, -1, zp->size(1)}).mean(1));
    for (auto& m : zeroshot_accuracy(z->index_select(0, labelled_rows_), cls, labels_)) out.push_back(m);
  }
  progress.finish();
  return out;
}

}  // namespace clippo::train
