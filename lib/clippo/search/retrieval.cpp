#include "clippo/search/retrieval.h"

#include <fmt/core.h>

#include <algorithm>
#include <unordered_map>

#include "clippo/cli/log.h"
#include "clippo/io/json.h"

namespace clippo::search {

RetrievalSet make_retrieval_set(const Collection& c, const std::string& image_field) {
  // Group id of each record: its json field value, else its own key.
  std::unordered_map<std::string, int64_t> group_of;
  std::vector<int64_t> group(c.size());
  for (size_t r = 0; r < c.size(); ++r) {
    std::string g = "key:" + c.keys[r];
    if (!image_field.empty() && !c.jsons[r].empty()) {
      try {
        if (auto v = JsonObject::parse(c.jsons[r], c.keys[r] + ".json").get(image_field)) g = "field:" + *v;
      } catch (const Error&) {
      }
    }
    group[r] = group_of.emplace(g, static_cast<int64_t>(group_of.size())).first->second;
  }
  RetrievalSet s;
  s.images.dim = s.texts.dim = c.dim();
  std::vector<int64_t> image_row(group_of.size(), -1);
  for (int64_t i = 0; i < c.img.m.rows; ++i) {
    int64_t r = c.img.record[i], g = group[r];
    if (image_row[g] >= 0) continue;  // the group's first image stands for it
    image_row[g] = s.images.rows;
    s.images.append(c.img.m.row(i));
    s.image_keys.push_back(c.keys[r]);
  }
  int64_t orphans = 0;
  for (int64_t i = 0; i < c.txt.m.rows; ++i) {
    int64_t g = group[c.txt.record[i]];
    if (image_row[g] < 0) {
      ++orphans;
      continue;
    }
    s.texts.append(c.txt.m.row(i));
    s.text_image.push_back(image_row[g]);
  }
  if (orphans) log::warn("{} caption(s) without an image embedding left out", orphans);
  if (s.images.rows == 0 || s.texts.rows == 0)
    throw Error(fmt::format("retrieval needs records with both img.npy and txt.npy (found {} images, {} captions)",
                            s.images.rows, s.texts.rows));
  return s;
}

RetrievalMetrics retrieval_recall(const RetrievalSet& s, const std::vector<int>& ks, const SearchFn& search) {
  auto top = [&](const Matrix& q, const Matrix& db, int k) {
    return search ? search(q.data.data(), q.rows, db.data.data(), db.rows, db.dim, k) : exact_search(q, db, k);
  };
  RetrievalMetrics m;
  m.images = s.images.rows, m.texts = s.texts.rows, m.ks = ks;
  int kmax = *std::max_element(ks.begin(), ks.end());
  m.i2t.assign(ks.size(), 0.0), m.t2i.assign(ks.size(), 0.0);
  // Image -> text: rank of the first of the image's captions.
  TopK it = top(s.images, s.texts, kmax);
  for (int64_t i = 0; i < it.nq; ++i) {
    int first = kmax;
    for (int r = 0; r < kmax; ++r)
      if (it.id(i, r) >= 0 && s.text_image[it.id(i, r)] == i) {
        first = r;
        break;
      }
    for (size_t j = 0; j < ks.size(); ++j) m.i2t[j] += first < ks[j];
  }
  TopK ti = top(s.texts, s.images, kmax);
  for (int64_t t = 0; t < ti.nq; ++t) {
    int first = kmax;
    for (int r = 0; r < kmax; ++r)
      if (ti.id(t, r) == s.text_image[t]) {
        first = r;
        break;
      }
    for (size_t j = 0; j < ks.size(); ++j) m.t2i[j] += first < ks[j];
  }
  for (size_t j = 0; j < ks.size(); ++j) m.i2t[j] /= std::max<int64_t>(m.images, 1), m.t2i[j] /= std::max<int64_t>(m.texts, 1);
  return m;
}

}  // namespace clippo::search
