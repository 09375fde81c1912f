// clippo-knn's command line: search, build, zeroshot, retrieval. It works on
// vectors; a query that has to be embedded (text, image, zero-shot class
// names) goes through a QueryModel the tool supplies, and so does exact search
// on a --device other than the CPU, so this library needs no model and no
// torch.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "clippo/io/image.h"
#include "clippo/search/matrix.h"

namespace clippo::search {

class QueryModel {
 public:
  virtual ~QueryModel() = default;
  // One row per input, unit-normalised or not (clippo-knn normalises).
  virtual Matrix embed_texts(const std::vector<std::string>& texts) = 0;
  virtual Matrix embed_images(const std::vector<Image>& images) = 0;
};

struct ModelRequest {
  std::string checkpoint;   // --model, else the header's model.path
  bool from_header = false;  // the header's: it must still be the file the database was embedded with
  std::string header_json;  // the database's `__clippo__` header ("" if none)
  std::string device = "cpu";
  int threads = 0;
  int batch_size = 0;  // 0 = the model's default
};

// Returns the model for a request; an empty function means this build
// embeds nothing (queries must come as vectors).
using ModelFactory = std::function<std::unique_ptr<QueryModel>(const ModelRequest&)>;

// Returns the exact search for --device (cuda); throws Error naming why that
// device cannot be used. An empty function means this build searches on the
// CPU only. knn_main uses it for every exact search (streams, Flat indexes,
// zero-shot, retrieval); IVF and HNSW indexes are searched by FAISS on the CPU.
// Tests only: CLIPPO_KNN_TORCH_SEARCH=1 in the environment sends --device cpu
// through it too, so the device path's wiring runs on machines without a GPU.
using SearchFactory = std::function<SearchFn(const std::string& device)>;

int knn_main(int argc, char** argv, const ModelFactory& factory, const SearchFactory& search = {});

}  // namespace clippo::search
