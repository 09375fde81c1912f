// Zero-shot text: the bundled prompt sets and class lists, templates, errors.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "clippo/cli/error.h"
#include "clippo/text/prompts.h"

namespace t = clippo::text;
namespace fs = std::filesystem;

TEST_CASE("bundled prompt sets and class lists", "[prompts]") {
  auto t80 = t::load_templates("clip80"), t7 = t::load_templates("clip7");
  CHECK(t80.size() == 80);
  CHECK(std::set<std::string>(t80.begin(), t80.end()).size() == 80);
  CHECK(t7.size() == 7);
  for (auto& x : t7) CHECK(std::find(t80.begin(), t80.end(), x) != t80.end());
  CHECK(t7[0] == "itap of a {}.");
  auto mnist = t::load_classes("mnist");
  CHECK(mnist == std::vector<std::string>{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"});
  CHECK(t::load_lines(t::find_data_file("classes/mnist.txt"), "classes") == mnist);
  auto cifar = t::load_classes("cifar10");
  CHECK(cifar.size() == 10);
  CHECK(cifar[3] == "cat");
  auto in = t::load_classes("imagenet");
  REQUIRE(in.size() == 1000);
  CHECK(in[0] == "tench");
  CHECK(in[207] == "Golden Retriever");
  CHECK(in[999] == "toilet paper");
}

TEST_CASE("a file of the same name wins over a bundled list", "[prompts]") {
  fs::path dir = fs::temp_directory_path() / ("clippo-prompts-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto old = fs::current_path();
  fs::current_path(dir);
  std::ofstream("mnist") << "ja\r\nnein\n\n";
  std::ofstream("plain") << "no placeholder\n";
  CHECK(t::load_classes("mnist") == std::vector<std::string>{"ja", "nein"});  // CRLF; blank lines at the end
  std::ofstream("gap") << "ja\n\nnein\n";  // class 1 would become "nein"
  CHECK_THROWS_WITH(t::load_classes("gap"), Catch::Contains("gap:2: a blank class name"));
  CHECK_THROWS_WITH(t::load_templates("plain"), Catch::Contains("plain:1: template 'no placeholder' has no {}"));
  CHECK_THROWS_WITH(t::load_classes("nosuchlist"),
                    Catch::Contains("nosuchlist: no such file, and no bundled class list of that name (cifar10, imagenet, mnist)"));
  CHECK_THROWS_WITH(t::load_classes("./missing.txt"), Catch::Contains("./missing.txt: cannot read the class names file"));
  fs::current_path(old);
  fs::remove_all(dir);
}

TEST_CASE("fill_templates is class-major and replaces {}", "[prompts]") {
  auto p = t::fill_templates({"cat", "dog"}, {"a {}.", "{} and {}"});
  CHECK(p == std::vector<std::string>{"a cat.", "cat and cat", "a dog.", "dog and dog"});
  CHECK_THROWS_WITH(t::load_templates("/dev/null"), Catch::Contains("no prompt templates"));
}
