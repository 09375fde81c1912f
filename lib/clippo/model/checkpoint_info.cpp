#include "clippo/model/checkpoint_info.h"

#include <fmt/core.h>

#include <filesystem>
#include <map>
#include <utility>
#include <vector>

#include "clippo/cli/error.h"
#include "clippo/io/json.h"
#include "clippo/io/npy.h"
#include "clippo/model/embedder.h"  // sha256_file
#include "clippo/model/npz.h"
#include "clippo/model/vit.h"

namespace clippo::model {

namespace {

std::string human(double n) {
  if (n >= 1e9) return fmt::format("{:.2f}G", n / 1e9);
  if (n >= 1e6) return fmt::format("{:.1f}M", n / 1e6);
  if (n >= 1e3) return fmt::format("{:.1f}k", n / 1e3);
  return fmt::format("{}", n);
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "float32";
    case DType::f16: return "float16";
    case DType::bf16: return "bfloat16";
    case DType::f64: return "float64";
    case DType::i32: return "int32";
    case DType::i64: return "int64";
    case DType::u8: return "uint8";
    case DType::bool_: return "bool";
  }
  return "?";
}

}  // namespace

std::string checkpoint_info(const std::string& path, bool json, std::string* problem) {
  NpzReader r(path);
  ModelConfig c = infer_config(r.entries(), 0, path);
  // The tower's arrays vs. everything else (optimizer state, extra trees).
  std::string tower;
  for (const char* t : {"params/img/", "img/", "params/", ""})
    if (r.find(std::string(t) + "embedding/kernel")) {
      tower = t;
      break;
    }
  std::string root = tower.size() >= 4 && tower.compare(tower.size() - 4, 4, "img/") == 0 ? tower.substr(0, tower.size() - 4) : tower;
  std::map<std::string, uint64_t> dtypes, extra_arrays, extra_bytes;
  uint64_t params = 0, arrays = 0;
  bool stacked = false;
  for (auto& e : r.entries()) {
    bool is_param = e.name.rfind(tower, 0) == 0 || e.name == root + "t";
    if (is_param) {
      ++arrays;
      ++dtypes[dtype_name(e.dtype)];
      params += e.nbytes / dtype_size(e.dtype);
      if (e.name.find("Transformer/encoderblock/") != std::string::npos) stacked = true;
    } else {
      std::string top = e.name.substr(0, e.name.find('/'));
      ++extra_arrays[top];
      extra_bytes[top] += e.nbytes;
    }
  }
  std::string dts, extras;
  for (auto& [k, v] : dtypes) dts += fmt::format("{}{} {}", dts.empty() ? "" : ", ", k, v);
  for (auto& [k, v] : extra_arrays)
    extras += fmt::format("{}{} ({} arrays, {}B)", extras.empty() ? "" : ", ", k, v, human(static_cast<double>(extra_bytes[k])));
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  std::vector<std::pair<std::string, std::string>> rows = {
      {"file", path},
      {"bytes", std::to_string(size)},
      {"sha256", sha256_file(path)},
      {"variant", c.variant()},
      {"resolution", std::to_string(c.res)},
      {"patch", std::to_string(c.patch)},
      {"width", std::to_string(c.width)},
      {"depth", std::to_string(c.depth)},
      {"heads", std::to_string(c.heads)},
      {"mlp_dim", std::to_string(c.mlp_dim)},
      {"out_dim", std::to_string(c.out_dim)},
      {"pool", c.pool},
      {"posemb", c.posemb},
      {"layout", stacked ? "stacked" : "per-block"},
      {"params", std::to_string(params)},
      {"arrays", std::to_string(arrays)},
      {"dtypes", dts},
      {"extra", extras.empty() ? "none" : extras},
  };
  // Whether the model loads from it, as clippo-embed would load it.
  std::string why;
  try {
    OneTower net(c, /*init=*/false);
    load_params(net, r);
  } catch (const Error& e) {
    why = e.what();
  }
  rows.emplace_back("loads", why.empty() ? "yes" : "no: " + why);
  if (problem) *problem = why;
  if (json) {
    JsonWriter j;
    j.begin_object();
    for (auto& [k, v] : rows) {
      j.key(k);
      bool number = !v.empty() && v.size() <= 18 && v.find_first_not_of("0123456789") == std::string::npos;
      if (number) j.value(static_cast<int64_t>(std::stoll(v)));
      else j.value(v);
    }
    j.end_object();
    return j.str() + "\n";
  }
  std::string out;
  for (auto& [k, v] : rows) out += k + "\t" + v + "\n";
  return out;
}

}  // namespace clippo::model
