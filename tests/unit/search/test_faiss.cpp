// FAISS indexes against the exact search on 100k clustered vectors: IVF and
// HNSW reach recall@10 >= 0.95; an index directory saves, reloads and answers
// the same.
#include <catch2/catch.hpp>
#include <faiss/Index.h>

#include <filesystem>
#include <random>
#include <set>

#include "clippo/search/index.h"
#include "clippo/search/ivf_scan.h"

namespace s = clippo::search;

namespace {

// n points around 500 random centres (unit vectors), normalised.
s::Matrix clustered(int64_t n, int dim, uint32_t seed, const s::Matrix& centres) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::uniform_int_distribution<int64_t> pick(0, centres.rows - 1);
  s::Matrix m(n, dim);
  for (int64_t i = 0; i < n; ++i) {
    const float* c = centres.row(pick(rng));
    for (int j = 0; j < dim; ++j) m.row(i)[j] = c[j] + 0.1f * normal(rng);
  }
  s::normalize_rows(m);
  return m;
}

double recall10(const s::TopK& approx, const s::TopK& exact) {
  int64_t hit = 0;
  for (int64_t i = 0; i < exact.nq; ++i) {
    std::set<int64_t> truth(exact.ids.begin() + i * 10, exact.ids.begin() + i * 10 + 10);
    for (int r = 0; r < 10; ++r) hit += truth.count(approx.id(i, r));
  }
  return double(hit) / (exact.nq * 10);
}

struct Data {
  s::Matrix db, q;
  s::TopK exact;
  Data() {
    const int dim = 32;
    s::Matrix centres(500, dim);
    std::mt19937 rng(7);
    std::normal_distribution<float> normal;
    for (auto& v : centres.data) v = normal(rng);
    s::normalize_rows(centres);
    db = clustered(100000, dim, 1, centres);
    q = clustered(300, dim, 2, centres);
    exact = s::exact_search(q, db, 10);
  }
};

const Data& data() {
  static Data d;
  return d;
}

}  // namespace

TEST_CASE("IVF recall@10 >= 0.95 against exact", "[search][faiss]") {
  auto& d = data();
  s::BuildOptions bo;
  bo.factory = "IVF256,Flat";
  bo.train_size = 20000;
  auto index = s::build_index(d.db, bo);
  s::apply_search_params(*index, {16, 0});
  double r = recall10(s::faiss_search(*index, d.q, 10), d.exact);
  INFO("IVF256,Flat nprobe 16 recall@10 " << r);
  CHECK(r >= 0.95);
  // The vectorised IVF-Flat scan finds what FAISS's own scan finds.
  s::TopK mine;
  REQUIRE(s::ivf_flat_search(*index, d.q, 10, 16, mine));
  auto theirs = s::faiss_search(*index, d.q, 10);
  CHECK(recall10(mine, d.exact) == Approx(r));
  int64_t same = 0;
  for (size_t i = 0; i < mine.ids.size(); ++i) {
    same += mine.ids[i] == theirs.ids[i];
    REQUIRE(mine.scores[i] == Approx(theirs.scores[i]).margin(1e-5));
  }
  CHECK(same >= static_cast<int64_t>(mine.ids.size()) * 99 / 100);  // float near-ties may swap
  s::TopK all;
  REQUIRE(s::ivf_flat_search(*index, d.q, 10, 256, all));
  CHECK(recall10(all, d.exact) == Approx(1.0));
  s::apply_search_params(*index, {256, 0});  // every list: exact
  CHECK(recall10(s::faiss_search(*index, d.q, 10), d.exact) == Approx(1.0));
}

TEST_CASE("HNSW recall@10 >= 0.95 against exact; the index directory round trip", "[search][faiss]") {
  auto& d = data();
  s::BuildOptions bo;
  bo.factory = "HNSW16";
  auto index = s::build_index(d.db, bo);
  s::apply_search_params(*index, {0, 128});
  auto before = s::faiss_search(*index, d.q, 10);
  double r = recall10(before, d.exact);
  INFO("HNSW16 efSearch 128 recall@10 " << r);
  CHECK(r >= 0.95);

  // Save with keys and metadata, reload, query: same answers, same keys.
  s::Collection c;
  c.header = R"({"model":{"path":"m.npz","sha256":"abc"}})";
  c.img.m = d.db;
  for (int64_t i = 0; i < d.db.rows; ++i) {
    c.keys.push_back("k" + std::to_string(i));
    c.captions.push_back(i % 2 ? "caption " + std::to_string(i) : "");
    c.jsons.push_back(i % 2 ? "" : "{\"path\":\"p" + std::to_string(i) + ".jpg\"}");
    c.cls.push_back("");
    c.img.record.push_back(i);
  }
  auto dir = (std::filesystem::temp_directory_path() / ("clippo-knn-test-" + std::to_string(getpid()))).string();
  s::save_index_dir(dir, *index, c, c.img, "img", bo);
  {
    s::IndexDir loaded(dir);
    CHECK(loaded.size() == d.db.rows);
    CHECK(loaded.dim() == 32);
    CHECK(loaded.factory() == "HNSW16");
    CHECK(loaded.meta().header.has_value());
    CHECK(loaded.meta().model == "abc");
    auto after = loaded.search(d.q, 10, {0, 128});
    CHECK(after.ids == before.ids);
    int64_t id = after.id(0, 0);
    CHECK(loaded.meta().keys[id] == "k" + std::to_string(id));
    CHECK(loaded.meta().label_text(id) ==
          (id % 2 ? "caption " + std::to_string(id) : "p" + std::to_string(id) + ".jpg"));
  }
  std::filesystem::remove_all(dir);
}
