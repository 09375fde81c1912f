// Evaluation during training: retrieval recall and zero-shot accuracy on
// hand-made embeddings whose ranks are worked out in the comments.
#include "test_model_fixture.h"  // torch, then Catch

#include <cmath>
#include <map>

#include "clippo/train/eval.h"

using clippo::train::retrieval_recall;
using clippo::train::zeroshot_accuracy;

namespace {

std::map<std::string, double> as_map(const std::vector<std::pair<std::string, double>>& v) {
  return {v.begin(), v.end()};
}
std::map<std::string, double> as_map(const std::optional<std::vector<std::pair<std::string, double>>>& v) {
  REQUIRE(v);
  return as_map(*v);
}

// Caption j of image j.
torch::Tensor one_each(int64_t n) { return torch::arange(n); }

torch::Tensor unit(std::vector<float> xy) {
  std::vector<float> out;
  for (size_t i = 0; i < xy.size(); i += 2) {
    float n = std::hypot(xy[i], xy[i + 1]);
    out.push_back(xy[i] / n), out.push_back(xy[i + 1] / n);
  }
  return torch::tensor(out).view({-1, 2});
}

}  // namespace

TEST_CASE("retrieval recall ranks each matching pair among all", "[train]") {
  // Images at 0, 90, 180 degrees, their captions at 10, 200, 170 degrees.
  // i2t: image 90 is 80 degrees from captions 10 and 170, 110 from its own
  // (rank 2); the others are nearest their own. t2i: caption 200 is 20
  // degrees from image 180, 110 from its own (rank 1); the others likewise.
  auto deg = [](std::vector<float> d) {
    std::vector<float> xy;
    for (float a : d) xy.push_back(std::cos(a * M_PI / 180)), xy.push_back(std::sin(a * M_PI / 180));
    return unit(xy);
  };
  auto r = as_map(retrieval_recall(deg({0, 90, 180}), deg({10, 200, 170}), one_each(3)));
  REQUIRE(r.size() == 6);
  CHECK(r["i2t_recall@1"] == Approx(2.0 / 3));
  CHECK(r["i2t_recall@5"] == Approx(1.0));
  CHECK(r["i2t_recall@10"] == Approx(1.0));
  CHECK(r["t2i_recall@1"] == Approx(2.0 / 3));
  CHECK(r["t2i_recall@5"] == Approx(1.0));
  CHECK(r["t2i_recall@10"] == Approx(1.0));
}

TEST_CASE("retrieval recall at 1, 5 and 10: twelve pairs that all tie", "[train]") {
  // Every image and caption is one vector: row r's match ranks r-th (the
  // earlier columns win the tie), so Recall@k = k/12.
  std::vector<float> xy;
  for (int i = 0; i < 12; ++i) xy.push_back(1), xy.push_back(0);
  auto r = as_map(retrieval_recall(unit(xy), unit(xy), one_each(12)));
  for (const char* way : {"i2t", "t2i"}) {
    CHECK(r[std::string(way) + "_recall@1"] == Approx(1.0 / 12));
    CHECK(r[std::string(way) + "_recall@5"] == Approx(5.0 / 12));
    CHECK(r[std::string(way) + "_recall@10"] == Approx(10.0 / 12));
  }
}

TEST_CASE("retrieval recall: identical captions tie, and the earlier one ranks first", "[train]") {
  // Images 0-2 at 0, 10, -10 degrees and 3-5 at 180, 170, 190; captions 0-2
  // are one text at 0 degrees and 3-5 another at 180 (repeated captions).
  // Each image is nearest its own group, where its caption ties with the
  // group's two others: as clippo-knn's top-k breaks ties by index, it ranks
  // i mod 3. R@1 is 2/6 (images 0 and 3), R@5 is 1; counting only strictly
  // higher scores would make every image a hit at 1.
  std::vector<float> img, cap;
  for (int i = 0; i < 6; ++i) {
    const double a = (i / 3) * 180.0 + std::vector<double>{0, 10, -10}[i % 3], g = (i / 3) * 180.0;
    img.push_back(std::cos(a * M_PI / 180)), img.push_back(std::sin(a * M_PI / 180));
    cap.push_back(std::cos(g * M_PI / 180)), cap.push_back(std::sin(g * M_PI / 180));
  }
  auto r = as_map(retrieval_recall(unit(img), unit(cap), one_each(6)));
  CHECK(r["i2t_recall@1"] == Approx(2.0 / 6));
  CHECK(r["i2t_recall@5"] == Approx(1.0));
}

TEST_CASE("retrieval recall: an image with several captions is hit by any of them", "[train]") {
  // Image A at 0 degrees with captions c0 at 100 and c1 at 20; image B at 180
  // with c2 at 60 and c3 at 200. i2t: A scores c1 (20 degrees off) highest,
  // B c3 (20 off): both hits at 1, although c0 and c2 rank third for their
  // image (counted per caption, R@1 would be 1/2). t2i: c0 is 80 degrees from
  // B, 100 from A, and c2 60 from A, 120 from B: misses at 1, hits at 5.
  auto deg = [](std::vector<float> d) {
    std::vector<float> xy;
    for (float a : d) xy.push_back(std::cos(a * M_PI / 180)), xy.push_back(std::sin(a * M_PI / 180));
    return unit(xy);
  };
  auto r = as_map(retrieval_recall(deg({0, 180}), deg({100, 20, 60, 200}), torch::tensor(std::vector<int64_t>{0, 0, 1, 1})));
  CHECK(r["i2t_recall@1"] == Approx(1.0));
  CHECK(r["t2i_recall@1"] == Approx(0.5));
  CHECK(r["t2i_recall@5"] == Approx(1.0));
  // Captions that suit the other image: A's at 100 and 200, B's at 60 and
  // 340. A's best own, c0 (100 degrees off), has B's two above it; B's best
  // own, c2 (120 off), has A's two above it: both rank 2.
  auto swapped = as_map(retrieval_recall(deg({0, 180}), deg({100, 200, 60, 340}), torch::tensor(std::vector<int64_t>{0, 0, 1, 1})));
  CHECK(swapped["i2t_recall@1"] == Approx(0.0));
  CHECK(swapped["i2t_recall@5"] == Approx(1.0));
}

TEST_CASE("zero-shot accuracy takes the nearest class embedding", "[train]") {
  // Classes along x, y, -x; records labelled 0, 1, 2, 1 lying nearest to
  // classes 0, 1, 0, 2: two of four right.
  auto classes = unit({1, 0, 0, 1, -1, 0});
  auto z = unit({1, 0.2f, 0.1f, 1, 1, -0.5f, -1, 0.1f});
  auto labels = torch::tensor(std::vector<int64_t>{0, 1, 2, 1});
  auto r = as_map(zeroshot_accuracy(z, classes, labels));
  CHECK(r.size() == 1);  // no top-5 with 5 classes or fewer
  CHECK(r["zeroshot_top1"] == Approx(0.5));
  // Seven classes at 0, 30, ..., 180 degrees: a record at 100 degrees ranks
  // them 90, 120, 60, 150, 30, 180, 0, so label 0 is out of the top 5 and
  // label 5 (150) is fourth.
  std::vector<float> c7;
  for (int k = 0; k < 7; ++k) c7.push_back(std::cos(k * M_PI / 6)), c7.push_back(std::sin(k * M_PI / 6));
  auto z2 = unit({std::cos(100 * M_PI / 180), std::sin(100 * M_PI / 180), std::cos(100 * M_PI / 180),
                  std::sin(100 * M_PI / 180), std::cos(100 * M_PI / 180), std::sin(100 * M_PI / 180)});
  auto r7 = as_map(zeroshot_accuracy(z2, unit(c7), torch::tensor(std::vector<int64_t>{3, 5, 0})));
  CHECK(r7["zeroshot_top1"] == Approx(1.0 / 3));
  CHECK(r7["zeroshot_top5"] == Approx(2.0 / 3));
}

TEST_CASE("retrieval recall over more records than one block of scores, with ties across blocks", "[train]") {
  // 5000 records take two blocks of rows. Vectors of small integers score
  // exactly in any summation order, and drawn from 2000 distinct ones they
  // tie often; two in three captions are their image's vector, so rows of
  // both blocks rank their match near the top. The ranks must be the plain
  // count, row by row, of the columns that score higher or tie from an
  // earlier column.
  const int64_t n = 5000;
  auto gen = [](uint64_t seed) { return torch::Generator(at::detail::createCPUGenerator(seed)); };
  auto a = torch::randint(-2, 3, {2000, 8}, gen(7)).to(torch::kFloat);
  auto za = a.index_select(0, torch::randint(0, 2000, {n}, gen(1)));
  auto other = a.index_select(0, torch::randint(0, 2000, {n}, gen(2)));
  auto own = (torch::arange(n) % 3 != 0).unsqueeze(1);
  auto zb = torch::where(own, za, other);
  auto expected = [&](const torch::Tensor& q, const torch::Tensor& db) {
    auto s = torch::matmul(q, db.t());
    auto acc = s.accessor<float, 2>();
    std::map<int, double> hits;
    for (int64_t i = 0; i < n; ++i) {
      int64_t rank = 0;
      for (int64_t j = 0; j < n; ++j) rank += acc[i][j] > acc[i][i] || (acc[i][j] == acc[i][i] && j < i);
      for (int k : {1, 5, 10}) hits[k] += rank < k;
    }
    return hits;
  };
  auto r = as_map(retrieval_recall(za, zb, one_each(n)));
  for (auto [way, q, db] : {std::tuple<std::string, torch::Tensor, torch::Tensor>{"i2t", za, zb}, {"t2i", zb, za}})
    for (auto [k, h] : expected(q, db)) CHECK(r[way + "_recall@" + std::to_string(k)] == Approx(h / n));
  // A stop asked for between blocks gives no result.
  int asked = 0;
  CHECK_FALSE(retrieval_recall(za, zb, one_each(n), [&] { return ++asked > 1; }));
  CHECK(asked == 2);
}
