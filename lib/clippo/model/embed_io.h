// clippo-embed's outputs: an embedding shard, or a .npy matrix with a .jsonl
// of row metadata. No torch here.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "clippo/io/npy.h"
#include "clippo/io/record.h"
#include "clippo/io/record_writer.h"

namespace clippo::model {

class EmbedOutput {
 public:
  virtual ~EmbedOutput() = default;
  // One input record with its embeddings (nullptr when not computed); meta
  // is the row's metadata for --npy.
  virtual void write(Record& rec, const std::vector<std::pair<std::string, std::string>>& meta, const float* img,
                     const float* txt) = 0;
  virtual void close() = 0;
};

// A shard ('-' = stdout) or a set of shards (-o 'x-{000..009}.shard',
// 'x-%05d.shard'), each beginning with the header record; embeddings as
// img.npy / txt.npy 1-D arrays of `dtype`; image fields dropped unless kept.
std::unique_ptr<EmbedOutput> make_shard_output(const std::string& output, uint64_t shard_size, Compression compression,
                                               const std::string& header_json, int dim, DType dtype,
                                               bool keep_images);

// FILE.npy (rows x dim, rewritten with the final row count on close) and
// FILE.jsonl beside it. One kind of embedding only: a record with both is an error.
std::unique_ptr<EmbedOutput> make_npy_output(const std::string& path, int dim, DType dtype);

}  // namespace clippo::model
