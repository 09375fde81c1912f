// Image<->text retrieval Recall@K as big_vision's retrieval evaluator counts
// it: for image->text a hit when any of the image's captions is among the
// top K texts; for text->image a hit when the caption's own image is.
#pragma once
#include <string>
#include <vector>

#include "clippo/search/collection.h"

namespace clippo::search {

struct RetrievalSet {
  Matrix images, texts;
  std::vector<int64_t> text_image;  // image row of each text
  std::vector<std::string> image_keys;
};

// Pairs images and captions. Records are grouped into images by the json
// field `image_field` when a record's json has it (so several caption records
// can share one image), else each record is its own image. A group's image is
// the first img.npy among its records; every txt.npy of the group is one of
// its captions. Captions whose group has no image are dropped with a warning.
RetrievalSet make_retrieval_set(const Collection& c, const std::string& image_field);

struct RetrievalMetrics {
  int64_t images = 0, texts = 0;
  std::vector<int> ks;
  std::vector<double> i2t, t2i;  // recall per k
};

// search: the exact top-k to rank with (empty = exact_search on the CPU).
RetrievalMetrics retrieval_recall(const RetrievalSet& s, const std::vector<int>& ks = {1, 5, 10},
                                  const SearchFn& search = {});

}  // namespace clippo::search
