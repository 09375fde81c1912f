// .npz round trips with numpy: what we write np.load reads equal; what
// np.savez / np.savez_compressed write we read equal.
#include "test_model_fixture.h"

#include <filesystem>

#include "clippo/cli/error.h"
#include "clippo/model/npz.h"
#include "clippo/model/vit.h"

using namespace clippo;
using namespace clippo::model;

namespace {

// Keep in sync with model_ref.py written_values().
NpzArrays written_values() {
  NpzArrays a;
  std::vector<float> v(24);
  for (int i = 0; i < 24; ++i) v[i] = i * 0.5f - 3;
  a["a"] = NpzArray::from_floats(v.data(), {2, 3, 4});
  std::vector<float> w(7);
  for (int i = 0; i < 7; ++i) w[i] = -2.0f + 4.0f * i / 6.0f;
  a["params/img/b"] = NpzArray::from_floats(w.data(), {7}, DType::f16);
  float c[] = {1.5f, -0.25f, 3.0f, 1e-3f};
  a["opt/c"] = NpzArray::from_floats(c, {2, 2}, DType::bf16);
  float s[] = {42.0f};
  a["scalar1"] = NpzArray::from_floats(s, {1});
  return a;
}

std::string tmp(const std::string& name) { return test::model_ref_dir() + "/" + name; }

}  // namespace

TEST_CASE("npz: numpy reads what we write, stored and deflated", "[model][npz]") {
  for (bool compress : {false, true}) {
    std::string path = tmp(compress ? "written_deflated.npz" : "written.npz");
    write_npz(path, written_values(), compress);
    CHECK(test::run_python("check-written " + path) == 0);
    // and we read it back
    auto back = read_npz(path);
    auto want = written_values();
    REQUIRE(back.size() == want.size());
    for (auto& [k, v] : want) {
      CHECK(back.at(k).dtype == v.dtype);
      CHECK(back.at(k).shape == v.shape);
      CHECK(back.at(k).data == v.data);
    }
  }
}

TEST_CASE("npz: a model exported, re-saved by numpy (np.savez and np.savez_compressed), reads back equal", "[model][npz]") {
  auto cfg = ModelConfig::from_variant("mu/16", 32, 24);
  OneTower m(cfg);
  m->reset_parameters(7);
  auto exported = export_params(m);
  CHECK(exported.count("params/img/Transformer/encoderblock_0/MultiHeadDotProductAttention_0/query/kernel"));
  CHECK((exported.at("params/img/embedding/kernel").shape == std::vector<int64_t>{16, 16, 3, 32}));
  CHECK((exported.at("params/t").shape == std::vector<int64_t>{1}));
  std::string path = tmp("export.npz");
  write_npz(path, exported);
  for (const char* how : {"compressed", "stored"}) {
    std::string re = tmp(std::string("export_") + how + ".npz");
    REQUIRE(test::run_python("resave " + path + " " + re + " " + how) == 0);
    auto back = read_npz(re);
    REQUIRE(back.size() == exported.size());
    for (auto& [k, v] : exported) {
      INFO(how << " " << k);
      CHECK(back.at(k).shape == v.shape);
      CHECK(back.at(k).data == v.data);
    }
    // and loads into a model that computes the same
    OneTower m2(infer_config(back, 0, re));
    load_params(m2, back, re);
    torch::NoGradGuard ng;
    auto x = torch::rand({2, 3, 32, 32}) * 2 - 1;
    CHECK(torch::allclose(m->forward(x).z, m2->forward(x).z, 0, 0));
  }
  // The temperature round-trips too: log(10) at init.
  CHECK(std::abs(exported.at("params/t").to_floats()[0] - std::log(10.0f)) < 1e-6f);
}

TEST_CASE("npz: reader lists members without reading data, filters, and errors clearly", "[model][npz]") {
  NpzReader r(tmp("mu16_32.npz"));
  auto* e = r.find("params/img/pos_embedding");
  REQUIRE(e);
  CHECK((e->shape == std::vector<int64_t>{1, 4, 32}));
  CHECK(e->dtype == DType::f32);
  CHECK(r.find("opt/step"));
  auto only = read_npz(tmp("mu16_32.npz"), [](const std::string& n) { return n.rfind("params/", 0) == 0; });
  CHECK(only.count("opt/step") == 0);
  CHECK(only.count("params/t") == 1);
  CHECK_THROWS_WITH(r.read("params/nope"), Catch::Contains("no array 'params/nope'"));
  CHECK_THROWS_WITH(NpzReader(tmp("does-not-exist.npz")), Catch::Contains("does-not-exist.npz: no such file"));
  CHECK_THROWS_WITH(NpzReader(test::model_ref_dir()), Catch::Contains("is a directory"));
}
