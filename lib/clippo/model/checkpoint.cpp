// big_vision checkpoint arrays <-> OneTower parameters.
#include <fmt/core.h>
#include <fmt/ranges.h>  // fmt::join (fmt >= 11 keeps it here)
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <set>

#include "clippo/cli/error.h"
#include "clippo/model/vit.h"

namespace clippo::model {

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  return s.size() == 1 ? fmt::format("({},)", s[0]) : fmt::format("({})", fmt::join(s, ", "));
}

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

// What the loader needs to know about a checkpoint, whatever holds it.
struct Source {
  std::string where;
  std::vector<NpzEntry> entries;
  std::map<std::string, const NpzEntry*> by_name;
  std::function<void(const std::string&, const std::function<void(const NpzArray&)>&)> read;

  void index() {
    for (auto& e : entries) by_name[e.name] = &e;
  }
  const NpzEntry* find(const std::string& n) const {
    auto it = by_name.find(n);
    return it == by_name.end() ? nullptr : it->second;
  }
};

// Where the image tower lives: "params/img/", "img/", "params/" (a plain
// ViT) or "" — found from the stem kernel.
struct Layout {
  std::string img;   // prefix of the tower's arrays
  std::string root;  // prefix of t
  bool stacked = false;
};

Layout find_layout(const Source& s) {
  for (auto [img, root] : {std::pair{"params/img/", "params/"}, {"img/", ""}, {"params/", "params/"}, {"", ""}}) {
    if (s.find(std::string(img) + "embedding/kernel")) {
      Layout l{img, root, false};
      l.stacked = s.find(l.img + "Transformer/encoderblock/LayerNorm_0/scale") != nullptr;
      return l;
    }
  }
  throw Error(fmt::format("{}: not a big_vision ViT checkpoint: missing array 'params/img/embedding/kernel'", s.where));
}

const NpzEntry& need(const Source& s, const std::string& name) {
  auto* e = s.find(name);
  if (!e) throw Error(fmt::format("{}: missing array '{}'", s.where, name));
  return *e;
}

void need_rank(const Source& s, const NpzEntry& e, size_t rank) {
  if (e.shape.size() != rank)
    throw Error(fmt::format("{}: array '{}' has shape {}, expected {} dimensions", s.where, e.name, shape_str(e.shape), rank));
}

ModelConfig infer(const Source& s, int res) {
  Layout l = find_layout(s);
  ModelConfig c;
  auto& stem = need(s, l.img + "embedding/kernel");
  need_rank(s, stem, 4);
  if (stem.shape[0] != stem.shape[1] || stem.shape[2] != 3)
    throw Error(fmt::format("{}: array '{}' has shape {}, expected (p, p, 3, width)", s.where, stem.name, shape_str(stem.shape)));
  c.patch = static_cast<int>(stem.shape[0]);
  c.width = static_cast<int>(stem.shape[3]);
  std::string blk0 = l.stacked ? l.img + "Transformer/encoderblock/" : l.img + "Transformer/encoderblock_0/";
  auto& q = need(s, blk0 + "MultiHeadDotProductAttention_0/query/kernel");
  need_rank(s, q, l.stacked ? 4 : 3);
  size_t o = l.stacked ? 1 : 0;
  if (q.shape[o] != c.width)
    throw Error(fmt::format("{}: array '{}' has shape {}, its first axis must be the width {}", s.where, q.name,
                            shape_str(q.shape), c.width));
  c.heads = static_cast<int>(q.shape[o + 1]);
  if (q.shape[o + 1] * q.shape[o + 2] != c.width)
    throw Error(fmt::format("{}: array '{}' has shape {}: heads x head_dim must equal the width {}", s.where, q.name,
                            shape_str(q.shape), c.width));
  auto& d0 = need(s, blk0 + "MlpBlock_0/Dense_0/kernel");
  need_rank(s, d0, l.stacked ? 3 : 2);
  c.mlp_dim = static_cast<int>(d0.shape[o + 1]);
  // Two of block 0's three MLP arrays that agree outvote the kernel, so that
  // a misshaped kernel is the array reported, not the MAP head's and every
  // other block's that the width taken from it would misfit.
  auto* b0 = s.find(blk0 + "MlpBlock_0/Dense_0/bias");
  auto* d1 = s.find(blk0 + "MlpBlock_0/Dense_1/kernel");
  if (b0 && d1 && b0->shape.size() == o + 1 && d1->shape.size() == o + 2 && b0->shape[o] == d1->shape[o])
    c.mlp_dim = static_cast<int>(b0->shape[o]);
  if (l.stacked) {
    c.depth = static_cast<int>(q.shape[0]);
  } else {
    // One past the highest block any array names: a block with an array
    // missing is then that array's error, not a shallower model.
    const std::string blk = l.img + "Transformer/encoderblock_";
    c.depth = 0;
    for (auto it = s.by_name.lower_bound(blk); it != s.by_name.end() && starts_with(it->first, blk); ++it) {
      const std::string rest = it->first.substr(blk.size());
      const size_t digits = rest.find_first_not_of("0123456789");
      if (digits == 0 || digits == std::string::npos || rest[digits] != '/' || digits > 6) continue;
      c.depth = std::max(c.depth, std::stoi(rest.substr(0, digits)) + 1);
    }
  }
  int grid = 0;
  if (auto* pe = s.find(l.img + "pos_embedding")) {
    need_rank(s, *pe, 3);
    int64_t g = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(pe->shape[1]))));
    if (pe->shape[0] != 1 || g * g != pe->shape[1] || pe->shape[2] != c.width)
      throw Error(fmt::format("{}: array '{}' has shape {}, expected (1, grid*grid, {})", s.where, pe->name,
                              shape_str(pe->shape), c.width));
    grid = static_cast<int>(g);
    c.posemb = "learn";
  } else {
    c.posemb = "sincos2d";
  }
  if (s.find(l.img + "MAPHead_0/probe")) c.pool = "map";
  else if (s.find(l.img + "cls")) c.pool = "tok";
  else c.pool = "gap";
  if (s.find(l.img + "pre_logits/kernel"))
    throw Error(fmt::format("{}: array '{}pre_logits/kernel': ViTs with a representation layer (rep_size) are not supported",
                            s.where, l.img));
  if (!s.find(l.img + "head/kernel") && s.find(l.img + "head/bias"))
    throw Error(fmt::format("{}: missing array '{}head/kernel' (its head/bias is there)", s.where, l.img));
  if (auto* h = s.find(l.img + "head/kernel")) {
    need_rank(s, *h, 2);
    c.out_dim = static_cast<int>(h->shape[1]);
  } else {
    c.out_dim = 0;
  }
  if (res > 0 && res % c.patch != 0)  // a requested --res: the caller's mistake, not the file's
    throw UsageError(fmt::format("--res {} is not a multiple of {}'s patch size {}", res, s.where, c.patch));
  if (res > 0) c.res = res;
  else if (grid > 0) c.res = grid * c.patch;
  else c.res = 224;  // sincos2d: the grid is not in the file; big_vision's default
  try {
    c.validate();
  } catch (const Error& e) {
    throw Error(s.where + ": " + e.what());
  }
  return c;
}

Source source_of(const NpzArrays& arrays, const std::string& where) {
  Source s;
  s.where = where;
  for (auto& [name, a] : arrays) s.entries.push_back({name, a.dtype, a.shape, a.data.size()});
  s.index();
  s.read = [&arrays](const std::string& name, const std::function<void(const NpzArray&)>& use) { use(arrays.at(name)); };
  return s;
}

Source source_of(const NpzReader& reader) {
  Source s;
  s.where = reader.path();
  s.entries = reader.entries();
  s.index();
  s.read = [&reader](const std::string& name, const std::function<void(const NpzArray&)>& use) { use(reader.read(name)); };
  return s;
}

// The torch type holding a dtype's values as they are, if there is one.
std::optional<torch::ScalarType> scalar_type(DType d) {
  switch (d) {
    case DType::f32: return torch::kFloat;
    case DType::f16: return torch::kHalf;
    case DType::bf16: return torch::kBFloat16;
    case DType::f64: return torch::kDouble;
    case DType::i64: return torch::kInt64;
    case DType::i32: return torch::kInt32;
    default: return std::nullopt;
  }
}

// A view of the array's bytes (no copy), for float parameters only.
torch::Tensor as_tensor(const Source& s, const std::string& name, const NpzArray& a) {
  auto t = scalar_type(a.dtype);
  if (!t || !torch::isFloatingType(*t))
    throw Error(fmt::format("{}: array '{}' has dtype {}, a parameter must be float32, float16, bfloat16 or float64",
                            s.where, name, dtype_descr(a.dtype)));
  return torch::from_blob(const_cast<char*>(a.data.data()), a.shape, torch::TensorOptions().dtype(*t));
}

LoadReport load(OneTower& model, const Source& s) {
  torch::NoGradGuard no_grad;
  Layout l = find_layout(s);
  const ModelConfig& c = model->config();
  LoadReport report;
  report.stacked = l.stacked;
  // For each source array: the parameters it fills (and the block index when stacked).
  std::map<std::string, std::vector<std::pair<std::string, int>>> plan;
  const std::string blk = "img/Transformer/encoderblock_";
  for (auto& item : model->named_parameters(false)) {
    const std::string& n = item.key();
    if (n == "t") {
      if (s.find(l.root + "t")) plan[l.root + "t"].push_back({n, -1});
      continue;  // a plain ViT has no temperature: keep the initial one
    }
    std::string rest = n.substr(4);  // after "img/"
    if (l.stacked && starts_with(n, blk)) {
      size_t slash = n.find('/', blk.size());
      int i = std::stoi(n.substr(blk.size(), slash - blk.size()));
      plan[l.img + "Transformer/encoderblock" + n.substr(slash)].push_back({n, i});
    } else {
      plan[l.img + rest].push_back({n, -1});
    }
  }
  for (auto& [src, targets] : plan) need(s, src);
  // Shapes first, so a bad checkpoint fails before any data is read.
  for (auto& [src, targets] : plan) {
    auto& e = *s.find(src);
    auto want = model->param(targets[0].first).sizes().vec();
    if (targets[0].second >= 0) want.insert(want.begin(), c.depth);
    bool posemb = src == l.img + "pos_embedding";
    bool ok = e.shape == want || (posemb && e.shape.size() == 3 && e.shape[0] == 1 && e.shape[2] == want[2]);
    if (!ok)
      throw Error(fmt::format("{}: array '{}' has shape {}, the model ({}) needs {}", s.where, src, shape_str(e.shape),
                              c.variant(), shape_str(want)));
  }
  for (auto& e : s.entries) {
    auto it = plan.find(e.name);
    if (it == plan.end()) {
      report.skipped.push_back(e.name);
      continue;
    }
    s.read(e.name, [&](const NpzArray& a) {
      if (a.shape != e.shape)
        throw Error(fmt::format("{}: array '{}' changed shape while reading", s.where, e.name));
      torch::Tensor src = as_tensor(s, e.name, a);
      for (auto& [param, index] : it->second) {
        torch::Tensor p = model->param(param);
        torch::Tensor v = index >= 0 ? src.select(0, index) : src;
        if (param == "img/pos_embedding" && v.sizes() != p.sizes()) {
          v = resample_posemb(v.to(torch::kFloat), c.grid());
          report.resampled_posemb = true;
        }
        p.copy_(v);
      }
    });
  }
  model->clear_inference();
  return report;
}

}  // namespace

ModelConfig infer_config(const std::vector<NpzEntry>& entries, int res, const std::string& where) {
  Source s;
  s.where = where;
  s.entries = entries;
  s.index();
  return infer(s, res);
}

ModelConfig infer_config(const NpzArrays& arrays, int res, const std::string& where) {
  return infer(source_of(arrays, where), res);
}

LoadReport load_params(OneTower& model, const NpzReader& reader) { return load(model, source_of(reader)); }

LoadReport load_params(OneTower& model, const NpzArrays& arrays, const std::string& where) {
  return load(model, source_of(arrays, where));
}

NpzArrays export_params(const OneTower& model, DType dtype) {
  NpzArrays out;
  for (auto& item : model->named_parameters(false)) {
    torch::Tensor p = item.value().detach().to(torch::kCPU, torch::kFloat).contiguous();
    out.emplace("params/" + item.key(), NpzArray::from_floats(p.data_ptr<float>(), p.sizes().vec(), dtype));
  }
  return out;
}

NpzArray tensor_to_npz(const torch::Tensor& t0) {
  torch::Tensor t = t0.detach().cpu().contiguous();
  NpzArray a;
  switch (t.scalar_type()) {
    case torch::kFloat32: a.dtype = DType::f32; break;
    case torch::kFloat64: a.dtype = DType::f64; break;
    case torch::kBFloat16: a.dtype = DType::bf16; break;
    case torch::kInt64: a.dtype = DType::i64; break;
    case torch::kInt32: a.dtype = DType::i32; break;
    default:
      t = t.to(torch::kFloat32);
      a.dtype = DType::f32;
  }
  a.shape = t.sizes().vec();
  a.data.assign(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
  return a;
}

torch::Tensor npz_to_tensor(const NpzArray& a) {
  auto t = scalar_type(a.dtype);
  if (!t || *t == torch::kHalf) {
    auto f = a.to_floats();
    return torch::from_blob(f.data(), a.shape, torch::kFloat32).clone();
  }
  auto out = torch::empty(a.shape, *t);
  if (a.data.size() != static_cast<size_t>(out.numel() * out.element_size()))
    throw Error("npz array: wrong data size");
  std::memcpy(out.data_ptr(), a.data.data(), a.data.size());
  return out;
}

}  // namespace clippo::model
