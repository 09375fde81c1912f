#include "clippo/search/collection.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>

#include "clippo/cli/bad_input.h"
#include "clippo/cli/log.h"
#include "clippo/io/json.h"
#include "clippo/io/npy.h"
#include "clippo/io/paths.h"
#include "clippo/io/record_reader.h"

namespace clippo::search {

namespace {

std::string display(const std::string& input) { return input == "-" ? "<stdin>" : input; }

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

std::string header_model_id(const std::string& header_json) {
  auto j = JsonObject::parse(header_json, "__clippo__ header");
  std::string id;
  if (auto v = j.get_path("model.sha256"); v && !v->empty()) id = *v;
  else if (auto p = j.get_path("model.path"); p && !p->empty()) id = *p;
  // The vectors before the head are another space than the head's.
  if (auto v = j.get_path("model.pre_logits"); !id.empty() && v && *v == "true") id += " (pre-logits)";
  return id;
}

std::optional<std::string> header_model_path(const std::string& header_json) {
  auto j = JsonObject::parse(header_json, "__clippo__ header");
  auto v = j.get_path("model.path");
  if (v && !v->empty()) return v;
  return std::nullopt;
}

std::string Collection::label_text(int64_t r) const {
  if (!captions[r].empty()) return captions[r];
  if (!jsons[r].empty()) {
    try {
      auto j = JsonObject::parse(jsons[r], keys[r]);
      for (auto f : {"path", "url", "file", "filename", "caption"})
        if (auto v = j.get(f)) return *v;
    } catch (const Error&) {
    }
  }
  return "";
}

std::string Collection::resolve_field(const std::string& name) const {
  if (name == "img" || name == "txt") return name;
  if (name != "auto") throw UsageError("--field must be img, txt or auto, not '" + name + "'");
  return img.m.rows ? "img" : "txt";
}

const Vectors& Collection::field(const std::string& name) const {
  auto f = resolve_field(name);
  const Vectors& v = f == "img" ? img : txt;
  if (v.m.rows == 0)
    throw Error(fmt::format("no {}.npy embeddings among the {} records", f, size()));
  return v;
}

Collection load_collection(const std::vector<std::string>& inputs, const LoadOptions& opt) {
  Collection c;
  std::string first_model_input;
  int dim = 0;
  std::string dim_where;
  auto files = expand_inputs(inputs, is_shard_path);
  if (files.empty()) throw Error("no input files");
  uint64_t damaged = 0;
  BadInput bad_vectors(opt.on_error);
  for (auto& file : files) {
    RecordReader reader({file}, opt.on_error);
    Record r;
    uint64_t headers_checked = 0;
    while (reader.next(r)) {
      // Each header (several in a concatenated stream) is known once the
      // record after it has been read.
      if (reader.headers_seen() != headers_checked) {
        headers_checked = reader.headers_seen();
        const std::string& h = *reader.latest_header();
        std::string id = header_model_id(h);
        if (!c.header) c.header = h, c.model = id, first_model_input = file;
        else if (!id.empty() && !c.model.empty() && id != c.model)
          throw Error(fmt::format("{}: embeddings from model '{}', but {} has model '{}'; search one model's "
                                  "embeddings at a time",
                                  file == first_model_input ? "a later part of " + display(file) : display(file), id,
                                  file == first_model_input ? "its first part" : display(first_model_input), c.model));
      }
      int64_t rec = static_cast<int64_t>(c.keys.size());
      for (auto [name, vec] : {std::pair{"img.npy", &c.img}, std::pair{"txt.npy", &c.txt}}) {
        const std::string* bytes = r.find(name);
        if (!bytes) continue;
        std::string where = fmt::format("{}: {}.{}", display(file), r.key, name);
        NpyHeader h;
        std::vector<float> v;
        try {
          v = npy_to_floats(*bytes, where, &h);
        } catch (const Error& e) {  // a damaged member: as --on-error says
          std::string why = e.what();  // "WHERE: why"
          if (why.starts_with(where + ": ")) why.erase(0, where.size() + 2);
          bad_vectors.report(where, why);
          continue;
        }
        if (h.shape.size() != 1 && !(h.shape.size() == 2 && h.shape[0] == 1))
          throw Error(fmt::format("{}: an embedding must be 1-D, this one has {} dimensions", where, h.shape.size()));
        if (v.empty()) throw Error(where + ": empty embedding");
        if (!std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); }))
          throw Error(where + ": the embedding holds NaN or infinity (made by a damaged checkpoint?)");
        if (dim == 0) dim = static_cast<int>(v.size()), dim_where = where;
        else if (static_cast<int>(v.size()) != dim)
          throw Error(fmt::format("{}: embedding has {} dimensions, but {} has {}; mixed models?", where, v.size(),
                                  dim_where, dim));
        if (vec->m.rows == 0) vec->m.dim = dim;
        vec->m.append(v.data());
        vec->record.push_back(rec);
      }
      auto text = [&](const char* f) {
        auto* p = r.find(f);
        return p ? *p : std::string();
      };
      const std::string* key = opt.key_member ? r.find("key") : nullptr;
      c.keys.push_back(key && !key->empty() ? *key : r.key);  // (indexes before 2026-12: their name, an empty member)
      c.captions.push_back(trim(text("txt")));
      c.jsons.push_back(text("json"));
      c.cls.push_back(trim(text("cls")));
    }
    damaged += reader.stats().damaged_inputs;
    if (!c.header && reader.header()) c.header = *reader.header(), c.model = header_model_id(*reader.header());
  }
  if (damaged) log::warn("{} damaged input(s) skipped", damaged);
  if (bad_vectors.total()) log::warn("{} unreadable embedding(s) skipped", bad_vectors.total());
  std::string names = files.size() == 1 ? display(files[0]) : fmt::format("{} inputs", files.size());
  if (c.keys.empty()) throw Error(names + ": empty database (no records)");
  if (opt.need_vectors && c.img.m.rows == 0 && c.txt.m.rows == 0)
    throw Error(fmt::format("{}: no embeddings (img.npy or txt.npy) in {} records; run clippo-embed first", names,
                            c.keys.size()));
  if (opt.normalize) normalize_rows(c.img.m), normalize_rows(c.txt.m);
  return c;
}

}  // namespace clippo::search
