// Zero-shot on vectors: class embeddings and metrics.
#include <catch2/catch.hpp>

#include <cmath>

#include "clippo/search/zeroshot.h"

namespace s = clippo::search;

TEST_CASE("class embedding = normalised mean of normalised prompts", "[search]") {
  s::Matrix p(3, 2);
  p.data = {10, 0, 0, 0.5f, 3, 4};  // class 0: (1,0) and (0,1) after normalising; class 1: (0.6, 0.8)
  auto c = s::mean_embeddings(p, {0, 0, 1}, 2);
  CHECK(c.row(0)[0] == Approx(std::sqrt(0.5)));
  CHECK(c.row(0)[1] == Approx(std::sqrt(0.5)));
  CHECK(c.row(1)[0] == Approx(0.6));
  CHECK(c.row(1)[1] == Approx(0.8));
  CHECK_THROWS(s::mean_embeddings(p, {0, 0, 0}, 2));  // class 1 has no prompt
}

TEST_CASE("zero-shot metrics", "[search]") {
  s::TopK t;
  t.nq = 4, t.k = 2;
  t.ids = {0, 1, 1, 0, 2, 0, 1, 2};
  t.scores.assign(8, 0.f);
  auto m = s::zeroshot_metrics(t, {0, 0, 1, -1}, 3);
  CHECK(m.n == 3);
  CHECK(m.top1 == Approx(1.0 / 3));
  CHECK(m.top5 == Approx(2.0 / 3));
  REQUIRE(m.confusions.size() == 2);
  CHECK(m.class_recall[0] == Approx(0.5));
  CHECK(m.class_recall[1] == Approx(0.0));
  CHECK(std::isnan(m.class_recall[2]));
}
