// Embedding shards in memory: each record's img.npy / txt.npy vectors with
// its key and metadata (caption, json, cls), and the stream's `__clippo__`
// header, which names the model that made the vectors.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "clippo/cli/error.h"
#include "clippo/search/matrix.h"

namespace clippo::search {

// Vectors of one embedding field, with the record each row came from.
struct Vectors {
  Matrix m;
  std::vector<int64_t> record;  // row -> record index
};

struct Collection {
  std::optional<std::string> header;  // `__clippo__` JSON of the first input that has one
  std::string model;                  // the header's model identity ("" if unknown)
  std::vector<std::string> keys, captions, jsons, cls;  // per record ("" when absent)
  Vectors img, txt;                   // rows from `img.npy` and `txt.npy`
  int dim() const { return img.m.rows ? img.m.dim : txt.m.dim; }
  size_t size() const { return keys.size(); }
  // "caption/path" column: the caption, else json path/url/file name, else "".
  std::string label_text(int64_t record) const;
  // The chosen field's vectors: "img", "txt" or "auto" (img when any record has one).
  const Vectors& field(const std::string& name) const;
  std::string resolve_field(const std::string& name) const;
};

struct LoadOptions {
  OnError on_error = OnError::skip;
  bool normalize = true;  // L2-normalise every vector
  bool need_vectors = true;  // no img.npy/txt.npy at all is an error
  bool key_member = false;   // an index's meta.shard: a record's key is its `key` member (its name is its row)
};

// Reads records from inputs (files, brace patterns, directories, "-").
// Throws Error when there are no records, no embeddings, vectors of mixed
// dimensions, or inputs whose headers name different models.
Collection load_collection(const std::vector<std::string>& inputs, const LoadOptions& options);

// The model a header names: its sha256 when present, else its path ("" if
// none), marked " (pre-logits)" for the vectors before its head.
std::string header_model_id(const std::string& header_json);
// The checkpoint path a header names, if any.
std::optional<std::string> header_model_path(const std::string& header_json);

}  // namespace clippo::search
