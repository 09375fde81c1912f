#include "clippo/model/embed_io.h"

#include <fmt/core.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>

#include "clippo/cli/error.h"
#include "clippo/io/json.h"
#include "clippo/model/embedder.h"
#include "clippo/model/npz.h"
#include "clippo/model/vit.h"

namespace clippo::model {

namespace {

class ShardOutput : public EmbedOutput {
 public:
  ShardOutput(const std::string& output, uint64_t shard_size, Compression c, const std::string& header, int dim,
              DType dtype, bool keep_images)
      : dim_(dim), dtype_(dtype), keep_images_(keep_images) {
    if (output == "-") {
      single_ = std::make_unique<RecordWriter>("-", c);
      single_->write(header_record(header));
    } else {
      // Like an interrupted run, a failed one leaves no part of the set.
      set_ = std::make_unique<ShardSetWriter>(output, shard_size, c, header, ShardSetWriter::Commit::whole_set);
    }
  }
  void write(Record& rec, const std::vector<std::pair<std::string, std::string>>&, const float* img,
             const float* txt) override {
    if (!keep_images_)
      for (auto f : kImageFields) rec.erase(f);
    if (img) rec.set("img.npy", make_npy_from_floats(img, {dim_}, dtype_));
    if (txt) rec.set("txt.npy", make_npy_from_floats(txt, {dim_}, dtype_));
    if (single_) single_->write(rec);
    else set_->write(rec);
  }
  void close() override {
    if (single_) single_->close();
    else set_->close();
  }

 private:
  int64_t dim_;
  DType dtype_;
  bool keep_images_;
  std::unique_ptr<RecordWriter> single_;
  std::unique_ptr<ShardSetWriter> set_;
};

// A .npy whose row count is only known at the end: a fixed-size header
// rewritten on close, rows streamed in between.
class NpyOutput : public EmbedOutput {
 public:
  static constexpr size_t kHeader = 128;
  NpyOutput(std::string path, int dim, DType dtype) : path_(std::move(path)), dim_(dim), dtype_(dtype) {
    std::string stem = path_.size() > 4 && path_.compare(path_.size() - 4, 4, ".npy") == 0
                           ? path_.substr(0, path_.size() - 4)
                           : path_;
    jsonl_path_ = stem + ".jsonl";
    // As -o does, a missing folder is made.
    if (auto dir = std::filesystem::path(path_).parent_path(); !dir.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(dir, ec);
    }
    f_ = std::fopen((path_ + ".tmp").c_str(), "wb");
    const int f_errno = errno;
    j_ = f_ ? std::fopen((jsonl_path_ + ".tmp").c_str(), "wb") : nullptr;
    if (!f_ || !j_) {
      const std::string reason = std::strerror(f_ ? errno : f_errno);
      if (f_) std::fclose(f_), std::remove((path_ + ".tmp").c_str());  // a constructor that throws runs no destructor
      throw Error(fmt::format("{}: cannot create: {}", !f_ ? path_ : jsonl_path_, reason));
    }
    std::string h = header(0);
    std::fwrite(h.data(), 1, h.size(), f_);
  }
  ~NpyOutput() override {
    if (f_) std::fclose(f_), std::remove((path_ + ".tmp").c_str());
    if (j_) std::fclose(j_), std::remove((jsonl_path_ + ".tmp").c_str());
  }
  void write(Record&, const std::vector<std::pair<std::string, std::string>>& meta, const float* img,
             const float* txt) override {
    if (img && txt)
      throw UsageError("--npy writes one matrix: choose --fields image or --fields text for records that have both");
    const float* row = img ? img : txt;
    std::string bytes = make_npy_from_floats(row, {dim_}, dtype_);
    size_t data = bytes.size() - static_cast<size_t>(dim_) * dtype_size(dtype_);
    if (std::fwrite(bytes.data() + data, 1, bytes.size() - data, f_) != bytes.size() - data)
      throw Error(path_ + ": write failed (disk full?)");
    JsonWriter js;
    js.begin_object();
    for (auto& [k, v] : meta) js.key(k).value(v);
    js.end_object();
    std::string line = js.str() + "\n";
    std::fwrite(line.data(), 1, line.size(), j_);
    ++rows_;
  }
  void close() override {
    std::string h = header(rows_);
    // ferror: any earlier write that failed (the .jsonl's rows, the header).
    bool ok = std::fseek(f_, 0, SEEK_SET) == 0 && std::fwrite(h.data(), 1, h.size(), f_) == h.size() &&
              std::fflush(f_) == 0 && std::fflush(j_) == 0 && !std::ferror(f_) && !std::ferror(j_);
    ok = (std::fclose(f_) == 0) & (std::fclose(j_) == 0) && ok;
    f_ = j_ = nullptr;
    if (!ok) throw Error(path_ + ": write failed (disk full?)");
    std::filesystem::rename(path_ + ".tmp", path_);
    std::filesystem::rename(jsonl_path_ + ".tmp", jsonl_path_);
  }

 private:
  std::string header(uint64_t rows) const {
    std::string dict = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}, {}), }}", dtype_descr(dtype_),
                                   rows, dim_);
    dict.resize(kHeader - 10 - 1, ' ');
    dict += '\n';
    std::string out = "\x93NUMPY\x01";
    out += '\0';
    out += static_cast<char>(dict.size() & 0xff);
    out += static_cast<char>(dict.size() >> 8);
    return out + dict;
  }
  std::string path_, jsonl_path_;
  int64_t dim_;
  DType dtype_;
  std::FILE *f_ = nullptr, *j_ = nullptr;
  uint64_t rows_ = 0;
};

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

std::unique_ptr<EmbedOutput> make_shard_output(const std::string& output, uint64_t shard_size, Compression compression,
                                               const std::string& header_json, int dim, DType dtype,
                                               bool keep_images) {
  return std::make_unique<ShardOutput>(output, shard_size, compression, header_json, dim, dtype, keep_images);
}

std::unique_ptr<EmbedOutput> make_npy_output(const std::string& path, int dim, DType dtype) {
  return std::make_unique<NpyOutput>(path, dim, dtype);
}

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
