#include "clippo/model/model_config.h"

#include <fmt/core.h>

#include <algorithm>
#include <regex>

#include "clippo/cli/error.h"
#include "clippo/io/json.h"

namespace clippo::model {

namespace {

struct Variant {
  const char* name;
  int width, depth, mlp_dim, heads;
};
// big_vision vit.decode_variant.
constexpr Variant kVariants[] = {
    {"mu", 32, 1, 128, 2},          {"Ti", 192, 12, 768, 3},      {"S", 384, 12, 1536, 6},
    {"M", 512, 12, 2048, 8},        {"B", 768, 12, 3072, 12},     {"L", 1024, 24, 4096, 16},
    {"So400m", 1152, 27, 4304, 16}, {"H", 1280, 32, 5120, 16},    {"g", 1408, 40, 6144, 16},
    {"G", 1664, 48, 8192, 16},      {"e", 1792, 56, 15360, 16},
};

// "B/16": the named variant's sizes and the patch.
void set_named_sizes(ModelConfig& c, const std::string& variant) {
  auto slash = variant.find('/');
  std::string name = variant.substr(0, slash);
  const auto v = std::find_if(std::begin(kVariants), std::end(kVariants), [&](const Variant& x) { return name == x.name; });
  if (v == std::end(kVariants)) {
    std::string known;
    for (auto& k : kVariants) known += std::string(known.empty() ? "" : ", ") + k.name;
    throw Error(fmt::format("unknown model variant '{}' (want NAME/PATCH with NAME one of {})", variant, known));
  }
  c.width = v->width, c.depth = v->depth, c.mlp_dim = v->mlp_dim, c.heads = v->heads;
  if (slash == std::string::npos) throw Error(fmt::format("model variant '{}' lacks the patch size (e.g. {}/16)", variant, name));
  try {
    size_t used = 0;
    c.patch = std::stoi(variant.substr(slash + 1), &used);
    if (used != variant.size() - slash - 1) throw std::invalid_argument("");
  } catch (const std::exception&) {
    throw Error(fmt::format("model variant '{}': bad patch size", variant));
  }
}

}  // namespace

ModelConfig ModelConfig::from_variant(const std::string& variant, int res, int out_dim) {
  ModelConfig c;
  static const std::regex explicit_sizes(R"(w(\d{1,6})-d(\d{1,4})-h(\d{1,4})-m(\d{1,7})/(\d{1,4}))");
  if (std::smatch m; std::regex_match(variant, m, explicit_sizes)) {
    c.width = std::stoi(m[1]), c.depth = std::stoi(m[2]), c.heads = std::stoi(m[3]), c.mlp_dim = std::stoi(m[4]);
    c.patch = std::stoi(m[5]);
  } else {
    set_named_sizes(c, variant);
  }
  c.res = res > 0 ? res : 224;
  c.out_dim = out_dim > 0 ? out_dim : c.width;
  c.validate();
  return c;
}

std::string ModelConfig::variant() const {
  for (auto& v : kVariants)
    if (width == v.width && depth == v.depth && mlp_dim == v.mlp_dim && heads == v.heads)
      return fmt::format("{}/{}", v.name, patch);
  return fmt::format("w{}-d{}-h{}-m{}/{}", width, depth, heads, mlp_dim, patch);
}

void ModelConfig::validate() const {
  if (width <= 0 || depth <= 0 || heads <= 0 || mlp_dim <= 0 || patch <= 0 || out_dim < 0)
    throw Error(fmt::format("model {}: sizes must be positive", variant()));
  if (width % heads) throw Error(fmt::format("model {}: width {} is not a multiple of {} heads", variant(), width, heads));
  if (res <= 0 || res % patch)
    throw Error(fmt::format("model {}: resolution {} is not a positive multiple of the patch size {}", variant(), res, patch));
  // A sanity bound, far past any released model (1024 px at /16 is 4096):
  // one attention matrix of so many patches is already a gigabyte an image,
  // and a typo (--res 100000) should not meet the allocator first.
  if (constexpr int64_t kMaxPatches = 16384; int64_t{grid()} * grid() > kMaxPatches)
    throw Error(fmt::format("model {}: resolution {} makes {} patches an image, more than {} (a larger patch or a "
                            "lower resolution)",
                            variant(), res, int64_t{grid()} * grid(), kMaxPatches));
  if (pool != "map" && pool != "gap" && pool != "tok")
    throw Error(fmt::format("model {}: unknown pool type '{}' (map, gap or tok)", variant(), pool));
  if (posemb != "learn" && posemb != "sincos2d")
    throw Error(fmt::format("model {}: unknown position embedding '{}' (learn or sincos2d)", variant(), posemb));
  if (posemb == "sincos2d" && width % 4) throw Error(fmt::format("model {}: sincos2d needs a width divisible by 4", variant()));
}

std::string ModelConfig::to_json() const {
  JsonWriter j;
  j.begin_object().key("variant").value(variant()).key("width").value(width).key("depth").value(depth);
  j.key("heads").value(heads).key("mlp_dim").value(mlp_dim).key("patch").value(patch).key("resolution").value(res);
  j.key("out_dim").value(out_dim).key("pool").value(pool).key("posemb").value(posemb).end_object();
  return j.str();
}

int64_t ModelConfig::num_params() const {
  int64_t D = width, M = mlp_dim, p = patch;
  int64_t attn = 4 * D * D + 4 * D, mlp = 2 * D * M + M + D, ln = 2 * D;
  int64_t n = p * p * 3 * D + D + 1 /* t */;
  if (posemb == "learn") n += static_cast<int64_t>(tokens()) * D;
  if (pool == "tok") n += D;
  n += depth * (attn + mlp + 2 * ln) + ln;
  if (pool == "map") n += D + attn + ln + mlp;
  if (out_dim > 0) n += D * out_dim + out_dim;
  return n;
}

int64_t ModelConfig::inference_chunk(int64_t batch, bool bf16_on_cpu) const {
  if (!bf16_on_cpu || batch < 1) return batch;
  const int64_t per_image = static_cast<int64_t>(tokens()) * mlp_dim * 2;
  const int64_t fit = std::max<int64_t>(1, (int64_t{32} << 20) / per_image);
  const int64_t parts = (batch + fit - 1) / fit;
  return (batch + parts - 1) / parts;
}

}  // namespace clippo::model
