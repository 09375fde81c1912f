// The model's sizes (torch-free): big_vision's named variants, explicit
// sizes, their names and checks.
#include <catch2/catch.hpp>

#include "clippo/io/json.h"
#include "clippo/model/model_config.h"

using clippo::JsonObject;
using clippo::model::ModelConfig;

TEST_CASE("model config: variants, explicit sizes, names") {
  auto b = ModelConfig::from_variant("B/16", 224, 768);
  CHECK((b.width == 768 && b.depth == 12 && b.heads == 12 && b.mlp_dim == 3072 && b.patch == 16));
  CHECK(b.variant() == "B/16");
  for (auto v : {"mu/16", "Ti/16", "S/32", "M/16", "B/8", "L/14", "So400m/14", "H/14"})
    CHECK(ModelConfig::from_variant(v, 224, 0).variant() == v);
  CHECK(ModelConfig::from_variant("So400m/14", 224, 0).width == 1152);
  // Explicit sizes, as variant() names a model that is no named variant.
  const auto w = ModelConfig::from_variant("w64-d2-h2-m256/8", 48, 0);
  CHECK((w.width == 64 && w.depth == 2 && w.heads == 2 && w.mlp_dim == 256 && w.patch == 8 && w.out_dim == 64));
  CHECK(w.variant() == "w64-d2-h2-m256/8");
  CHECK(ModelConfig::from_variant("w384-d12-h6-m1536/16").variant() == "S/16");
  CHECK_THROWS_WITH(ModelConfig::from_variant("w64-d2-h3-m256/8"), Catch::Contains("not a multiple of 3 heads"));
  CHECK_THROWS_WITH(ModelConfig::from_variant("X/16"), Catch::Contains("unknown model variant 'X/16'"));
  CHECK_THROWS_WITH(ModelConfig::from_variant("B"), Catch::Contains("patch"));
  CHECK_THROWS_WITH(ModelConfig::from_variant("B/16", 100), Catch::Contains("not a positive multiple of the patch"));
  CHECK_NOTHROW(ModelConfig::from_variant("B/16", 2048));  // 128 x 128 patches: the most there may be
  CHECK_THROWS_WITH(ModelConfig::from_variant("B/16", 2064), Catch::Contains("makes 16641 patches an image, more than 16384"));
  auto js = JsonObject::parse(b.to_json(), "config");
  CHECK(js.get("variant") == "B/16");
  CHECK(js.get("resolution") == "224");
}
