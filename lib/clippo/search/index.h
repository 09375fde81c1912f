// FAISS indexes saved as a directory: the index, one metadata record per
// vector (key, caption, json, cls) and the `__clippo__` header, so a query is
// embedded with the model that made the vectors.
//
//   DIR/index.faiss   faiss::write_index output (inner-product metric)
//   DIR/meta.shard    records in index row order, header first
//   DIR/index.json    {"factory", "dim", "count", "field", "normalized"}
#pragma once
#include <memory>
#include <optional>
#include <string>

#include "clippo/search/collection.h"

namespace faiss {
struct Index;
}

namespace clippo::search {

struct BuildOptions {
  std::string factory = "Flat";  // faiss::index_factory string: "IVF4096,Flat", "HNSW32", "IVF1024,PQ64"
  int64_t train_size = 100000;   // vectors sampled to train the index
  uint64_t seed = 1;
  bool normalized = true;
};

struct SearchParams {
  int nprobe = 0;     // IVF lists to visit (0 = index default)
  int ef_search = 0;  // HNSW candidate list (0 = index default)
};

// Builds an index over the vectors (inner product). Throws Error for a bad
// factory string or too few training vectors.
std::unique_ptr<faiss::Index> build_index(const Matrix& vectors, const BuildOptions& options);

// An index folder is replaced whole: a search never reads a new index.faiss
// beside an old meta.shard, and a build that fails or is killed leaves the
// old index as it was. Throws Error, before any work, where `dir` is not a
// folder or holds files an index does not; removes what builds killed there
// left.
void prepare_index_dir(const std::string& dir);
// Writes dir/ from a built index and the collection rows: built in a hidden
// folder beside it, then swapped into place (after prepare_index_dir).
void save_index_dir(const std::string& dir, const faiss::Index& index, const Collection& c, const Vectors& v,
                    const std::string& field, const BuildOptions& options);

class IndexDir {
 public:
  // Loads dir/; throws Error naming the missing or damaged file.
  explicit IndexDir(const std::string& dir);
  ~IndexDir();
  IndexDir(IndexDir&&) noexcept;

  TopK search(const Matrix& queries, int k, const SearchParams& params) const;
  int dim() const;
  int64_t size() const;
  const Collection& meta() const { return meta_; }  // records in index row order, no vectors
  const std::string& factory() const { return factory_; }
  const std::string& field() const { return field_; }  // the vectors it holds: "img" or "txt" ("" if unknown)
  // A Flat inner-product index's vectors, size() x dim() in row order (for
  // an exact search elsewhere); nullptr for other index types.
  const float* flat_vectors() const;

 private:
  std::unique_ptr<faiss::Index> index_;
  Collection meta_;
  std::string factory_, field_;
};

// Sets nprobe / efSearch on an index (through wrappers); unknown ones are ignored.
void apply_search_params(faiss::Index& index, const SearchParams& params);

// FAISS result rows sorted best first, equal scores by lower id.
TopK faiss_search(const faiss::Index& index, const Matrix& queries, int k);

}  // namespace clippo::search
