#include "clippo/train/eval.h"

#include <fmt/core.h>

#include "clippo/cli/error.h"
#include "clippo/cli/log.h"
#include "clippo/io/image.h"
#include "clippo/io/record_reader.h"
#include "clippo/text/render.h"

namespace clippo::train {

Evaluator::Evaluator(const std::vector<std::string>& files, int res, const std::vector<std::string>& fonts,
                     int64_t size, int /*threads*/) {
  auto font = text::Font::load(fonts);
  text::RenderOptions ro;
  ro.size = res;
  RecordReader reader(files, OnError::skip);
  std::vector<torch::Tensor> imgs, txts;
  std::vector<uint8_t> gray(static_cast<size_t>(res) * res);
  Record r;
  while (static_cast<int64_t>(imgs.size()) < size && reader.next(r)) {
    auto* im = find_image(r);
    auto* cap = r.find("txt");
    if (!im || !cap) continue;
    auto a = torch::empty({3, res, res});
    try {
      to_model_input(decode_image(im->second), res, a.data_ptr<float>());
    } catch (const Error&) {
      continue;
    }
    text::render(*cap, *font, ro, gray.data());
    auto g = torch::from_blob(gray.data(), {1, res, res}, torch::kUInt8).to(torch::kFloat32) / 255.0f * 2.0f - 1.0f;
    imgs.push_back(a);
    txts.push_back(g.expand({3, res, res}).clone());
  }
  if (imgs.empty()) throw Error(fmt::format("--eval-data {}: no image/text records", files.front()));
  images_ = torch::stack(imgs);
  texts_ = torch::stack(txts);
  log::info("evaluating on {} held-out pairs", imgs.size());
}

std::vector<std::pair<std::string, double>> retrieval_recall(const torch::Tensor& za, const torch::Tensor& zb) {
  auto sim = torch::matmul(za, zb.t());
  const int64_t n = sim.size(0);
  auto target = torch::arange(n);
  std::vector<std::pair<std::string, double>> out;
  for (auto [name, s] : {std::pair<const char*, torch::Tensor>{"i2t", sim}, {"t2i", sim.t()}}) {
    // Rank of the matching column: how many columns score strictly higher.
    auto diag = s.diagonal().unsqueeze(1);
    auto rank = (s > diag).sum(1);
    for (int k : {1, 5})
      out.emplace_back(fmt::format("{}_recall@{}", name, k), (rank < k).to(torch::kFloat64).mean().item<double>());
  }
  return out;
}

std::vector<std::pair<std::string, double>> Evaluator::run(model::OneTower& net, int64_t batch) {
  torch::NoGradGuard ng;
  bool was_training = net->is_training();
  net->eval();
  auto dev = net->t.device();
  std::vector<torch::Tensor> za, zb;
  for (int64_t i = 0; i < images_.size(0); i += batch) {
    int64_t j = std::min(images_.size(0), i + batch);
    za.push_back(net->forward(images_.slice(0, i, j).to(dev)).z.to(torch::kCPU, torch::kFloat32));
    zb.push_back(net->forward(texts_.slice(0, i, j).to(dev)).z.to(torch::kCPU, torch::kFloat32));
  }
  if (was_training) net->train();
  return retrieval_recall(torch::cat(za), torch::cat(zb));
}

}  // namespace clippo::train
