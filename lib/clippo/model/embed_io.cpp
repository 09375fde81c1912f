#include "clippo/model/embed_io.h"

#include <fmt/core.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "clippo/cli/error.h"
#include "clippo/io/json.h"

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
    return make_npy_header(dtype_, {static_cast<int64_t>(rows), dim_}, kHeader);
  }
  std::string path_, jsonl_path_;
  int64_t dim_;
  DType dtype_;
  std::FILE *f_ = nullptr, *j_ = nullptr;
  uint64_t rows_ = 0;
};

}  // namespace

std::unique_ptr<EmbedOutput> make_shard_output(const std::string& output, uint64_t shard_size, Compression compression,
                                               const std::string& header_json, int dim, DType dtype,
                                               bool keep_images) {
  return std::make_unique<ShardOutput>(output, shard_size, compression, header_json, dim, dtype, keep_images);
}

std::unique_ptr<EmbedOutput> make_npy_output(const std::string& path, int dim, DType dtype) {
  return std::make_unique<NpyOutput>(path, dim, dtype);
}

}  // namespace clippo::model
