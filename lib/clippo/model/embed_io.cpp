#include "clippo/model/embed_io.h"

#include <fmt/core.h>

#include "clippo/cli/error.h"
#include "clippo/io/atomic_file.h"
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
    // A shard embedded before holds another model's vectors, which the
    // header would now claim for this one.
    rec.erase("img.npy"), rec.erase("txt.npy");
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
  NpyOutput(const std::string& path, int dim, DType dtype)
      : dim_(dim), dtype_(dtype), npy_(path, AtomicFile::made), jsonl_(jsonl_for(path), AtomicFile::made) {
    npy_.write(header(0));
  }
  void write(Record&, const std::vector<std::pair<std::string, std::string>>& meta, const float* img,
             const float* txt) override {
    if (img && txt)
      throw UsageError("--npy writes one matrix: choose --fields image or --fields text for records that have both");
    const float* row = img ? img : txt;
    const std::string bytes = make_npy_from_floats(row, {dim_}, dtype_);
    rows_buf_.append(bytes, bytes.size() - static_cast<size_t>(dim_) * dtype_size(dtype_));
    JsonWriter js;
    js.begin_object();
    for (auto& [k, v] : meta) js.key(k).value(v);
    js.end_object();
    jsonl_buf_ += js.str() + "\n";
    ++rows_;
    if (rows_buf_.size() + jsonl_buf_.size() >= (1 << 20)) flush();
  }
  void close() override {
    flush();
    // The header, now that the row count is known, over its placeholder.
    const std::string h = header(rows_);
    npy_.write_at(0, h);
    npy_.finish();
    jsonl_.finish();
    npy_.commit();
    jsonl_.commit();
  }

 private:
  static std::string jsonl_for(const std::string& path) {
    const bool npy = path.size() > 4 && path.compare(path.size() - 4, 4, ".npy") == 0;
    return (npy ? path.substr(0, path.size() - 4) : path) + ".jsonl";
  }
  void flush() {
    npy_.write(rows_buf_);
    jsonl_.write(jsonl_buf_);
    rows_buf_.clear();
    jsonl_buf_.clear();
  }
  std::string header(uint64_t rows) const {
    return make_npy_header(dtype_, {static_cast<int64_t>(rows), dim_}, kHeader);
  }
  int64_t dim_;
  DType dtype_;
  AtomicFile npy_, jsonl_;
  std::string rows_buf_, jsonl_buf_;  // written a megabyte at a time
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
