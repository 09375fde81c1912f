// Zero-shot pieces: templates, class embeddings, metrics; the bundled lists.
#include <catch2/catch.hpp>

#include <cmath>
#include <set>

#include "clippo/search/zeroshot.h"

namespace s = clippo::search;

TEST_CASE("bundled prompt sets and class lists", "[search]") {
  auto t80 = s::load_templates("clip80"), t7 = s::load_templates("clip7");
  CHECK(t80.size() == 80);
  CHECK(std::set<std::string>(t80.begin(), t80.end()).size() == 80);
  CHECK(t7.size() == 7);
  for (auto& t : t7) CHECK(std::find(t80.begin(), t80.end(), t) != t80.end());
  CHECK(t7[0] == "itap of a {}.");
  auto mnist = s::load_lines(s::find_data_file("classes/mnist.txt"), "classes");
  CHECK(mnist == std::vector<std::string>{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"});
  auto cifar = s::load_lines(s::find_data_file("classes/cifar10.txt"), "classes");
  CHECK(cifar.size() == 10);
  CHECK(cifar[3] == "cat");
  auto in = s::load_lines(s::find_data_file("classes/imagenet.txt"), "classes");
  REQUIRE(in.size() == 1000);
  CHECK(in[0] == "tench");
  CHECK(in[207] == "Golden Retriever");
  CHECK(in[999] == "toilet paper");
}

TEST_CASE("fill_templates is class-major and replaces {}", "[search]") {
  auto p = s::fill_templates({"cat", "dog"}, {"a {}.", "{} and {}"});
  CHECK(p == std::vector<std::string>{"a cat.", "cat and cat", "a dog.", "dog and dog"});
  CHECK_THROWS_WITH(s::load_templates("/dev/null"), Catch::Contains("no prompt templates"));
}

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
