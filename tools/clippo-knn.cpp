// clippo-knn: search, zero-shot classification and retrieval metrics over
// embeddings. The command line lives in lib/clippo/search/knn_app (vectors
// only); this file supplies the model that embeds text and image queries and
// the torch exact search for --device cuda.
#include <charconv>
#include <optional>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "clippo/cli/error.h"
#include "clippo/cli/log.h"
#include "clippo/io/json.h"
#include "clippo/model/device_search.h"
#include "clippo/model/embedder.h"
#include "clippo/search/knn_app.h"

namespace {

using clippo::search::Matrix;

class EmbedderModel : public clippo::search::QueryModel {
 public:
  explicit EmbedderModel(const clippo::search::ModelRequest& r) : embedder_(r.checkpoint, options(r)) {
    check_same_model(r);
  }
  Matrix embed_texts(const std::vector<std::string>& t) override { return wrap(embedder_.embed_texts(t), t.size()); }
  Matrix embed_images(const std::vector<clippo::Image>& i) override { return wrap(embedder_.embed_images(i), i.size()); }

 private:
  // Embed queries the way the database was embedded: the header's resolution,
  // features and precision.
  static clippo::model::EmbedderOptions options(const clippo::search::ModelRequest& r) {
    clippo::model::EmbedderOptions o;
    o.device = r.device;
    o.threads = r.threads;
    if (r.batch_size > 0) o.batch = r.batch_size;
    if (!r.header_json.empty()) {
      auto h = clippo::JsonObject::parse(r.header_json, "__clippo__ header");
      if (auto v = h.get_path("model.resolution");
          v && std::from_chars(v->data(), v->data() + v->size(), o.res).ec != std::errc())
        throw clippo::Error("__clippo__ header: model.resolution " + *v + " is not a number");
      if (auto v = h.get_path("model.pre_logits")) o.pre_logits = *v == "true";
      if (auto v = h.get_path("model.precision"); v && !v->empty()) o.precision = *v;
      if (auto v = h.get_strings("model.render.fonts")) o.fonts = *v;
    }
    return o;
  }
  // The header's sha256 against the checkpoint's now: a workdir's
  // checkpoint.npz that training rewrote since would embed queries in
  // another space than the database's, and every result would be wrong.
  static void check_same_model(const clippo::search::ModelRequest& r) {
    if (r.header_json.empty()) return;
    const auto want = clippo::JsonObject::parse(r.header_json, "__clippo__ header").get_path("model.sha256");
    if (!want || want->empty()) return;
    const std::string have = clippo::model::sha256_file(r.checkpoint);
    if (have == *want) return;
    const std::string what = fmt::format("{}: not the checkpoint the database was embedded with (sha256 {}..., the "
                                         "database's header says {}...)",
                                         r.checkpoint, have.substr(0, 12), want->substr(0, 12));
    if (r.from_header)
      throw clippo::Error(what + ": it changed since (training resumed?); embed the database again, or give --model "
                                 "to embed the queries with it anyway");
    clippo::log::warn("{}: its query embeddings may not match the database's", what);
  }
  Matrix wrap(std::vector<float> v, size_t rows) {
    Matrix m;
    m.rows = static_cast<int64_t>(rows), m.dim = embedder_.dim(), m.data = std::move(v);
    return m;
  }
  clippo::model::Embedder embedder_;
};

}  // namespace

int main(int argc, char** argv) {
  auto model = [](const clippo::search::ModelRequest& r) {
    return std::unique_ptr<clippo::search::QueryModel>(new EmbedderModel(r));
  };
  auto search = [](const std::string& device) -> clippo::search::SearchFn {
    clippo::model::DeviceSearchOptions o;
    o.device = device;
    return clippo::model::DeviceSearch(o);
  };
  return clippo::search::knn_main(argc, argv, model, search);
}
