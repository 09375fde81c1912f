#include "clippo/search/knn_app.h"

#include <faiss/Index.h>
#include <fmt/core.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "clippo/cli/command.h"
#include "clippo/cli/log.h"
#include "clippo/io/atomic_file.h"
#include "clippo/io/json.h"
#include "clippo/io/paths.h"
#include "clippo/io/record.h"
#include "clippo/search/collection.h"
#include "clippo/search/index.h"
#include "clippo/search/retrieval.h"
#include "clippo/search/zeroshot.h"
#include "clippo/text/prompts.h"

namespace clippo::search {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// A TSV cell: tabs and newlines would break the columns, and other control
// characters of a scraped caption (ESC, BEL, C1's CSI) would drive the
// terminal: each becomes a space.
std::string cell(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
        static_cast<unsigned char>(s[i + 1]) <= 0x9F) {
      out += ' ', ++i;  // U+0080..U+009F in UTF-8
    } else {
      out += c < 0x20 || c == 0x7F ? ' ' : s[i];
    }
  }
  return out;
}

struct App {
  cli::Command cmd{"clippo-knn", "[search|build|zeroshot|retrieval] [OPTIONS] [SHARDS...]",
                   "Nearest-neighbour search over CLIPPO embeddings (img.npy / txt.npy in shards), FAISS index\n"
                   "building, zero-shot classification with prompts, and image<->text retrieval Recall@1/5/10.\n"
                   "The database is shards (arguments or --db), --index DIR, or the stream on stdin.",
                   cli::kOutput | cli::kThreads | cli::kOnError | cli::kDevice | cli::kJson,
                   {{"output", "build: the index directory (the other commands print to stdout)"}}};
  std::string command = "search";
  std::vector<std::string> db, inputs, query_texts, query_images, query_embs;
  std::string index_dir, queries_file, field = "auto", query_field = "auto", model, index_type = "Flat";
  std::string classes_file, prompts = "clip80", class_emb, label_field, predictions, image_field = "image_id";
  int k = 10, nprobe = 0, ef_search = 0, batch_size = 0;
  int64_t train_size = 100000;
  int64_t seed = 1;  // signed: "-1" would read as 2^64-1
  bool no_normalize = false;
  ModelFactory factory;
  SearchFactory search_factory;
  SearchFn device_search;  // exact search on --device; empty = exact_search (CPU BLAS)
  std::optional<Collection> dbc;  // the loaded database (search from shards, zeroshot, retrieval)

  void define() {
    auto add = cmd.options().add_options();
    namespace po = boost::program_options;
    add("db", po::value(&db)->composing()->value_name("SHARDS"), "embedding shards: files, dirs, 'x-{000..009}.shard', '-' (repeatable; default stdin)");
    cmd.hidden().add_options()("inputs", po::value(&inputs)->composing(), "database shards");
    cmd.positional("inputs");
    add("index", po::value(&index_dir)->value_name("DIR"), "search an index directory made by 'clippo-knn build'");
    add("field", po::value(&field)->value_name("img|txt|auto"), "database vectors: img, txt or auto (img when present) [auto]");
    add("query", po::value(&query_texts)->composing()->value_name("TEXT"), "a text query, embedded with the model (repeatable)");
    add("queries", po::value(&queries_file)->value_name("FILE"), "a file of text queries, one per line ('-' = stdin)");
    add("query-image", po::value(&query_images)->composing()->value_name("IMAGE"), "an image file query (repeatable)");
    add("query-emb", po::value(&query_embs)->composing()->value_name("SHARDS"), "query vectors from embedding shards (repeatable)");
    add("query-field", po::value(&query_field)->value_name("img|txt|auto"), "--query-emb vectors: img, txt or auto (txt when present) [auto]");
    add(",k", po::value(&k)->value_name("N"), "results per query [10]");
    add("model", po::value(&model)->value_name("CKPT"), "checkpoint for text/image queries (default: the one the header names)");
    add("batch-size", po::value(&batch_size)->value_name("N"), "queries per model batch (0 = the model's default)");
    add("no-normalize", po::bool_switch(&no_normalize), "use vectors as they are (default: L2-normalise all)");
    add("nprobe", po::value(&nprobe)->value_name("N"), "IVF lists visited per query (index default 1)");
    add("ef-search", po::value(&ef_search)->value_name("N"), "HNSW search depth (index default 16)");
    add("index-type", po::value(&index_type)->value_name("SPEC"), "build: FAISS index_factory string, e.g. IVF4096,Flat HNSW32 IVF1024,PQ64 [Flat]");
    add("train-size", po::value(&train_size)->value_name("N"), "build: vectors sampled to train the index [100000]");
    add("seed", po::value(&seed)->value_name("N"), "build: seed of the training sample [1]");
    add("classes", po::value(&classes_file)->value_name("NAME|FILE"), "zeroshot: class names, one per line, or mnist / cifar10 / imagenet");
    add("prompts", po::value(&prompts)->value_name("NAME|FILE"), "zeroshot: templates file or clip80 / clip7 [clip80]");
    add("class-emb", po::value(&class_emb)->value_name("SHARDS"), "zeroshot: prompt/class embeddings (txt.npy; grouped by cls) instead of a model");
    add("label-field", po::value(&label_field)->value_name("NAME"), "zeroshot: json field holding the label (default: the cls field)");
    add("predictions", po::value(&predictions)->value_name("FILE"), "zeroshot: write per-record predictions (TSV) to this file");
    add("image-field", po::value(&image_field)->value_name("NAME"), "retrieval: json field naming a record's image; records sharing it are one image [image_id]");
  }

  Collection& database() {
    if (dbc) return *dbc;
    if (!index_dir.empty())  // only search reads an index
      throw UsageError(fmt::format("{} reads embedding shards (--db SHARDS or stdin), not --index", command));
    auto inputs = db;
    if (inputs.empty()) {
      if (queries_file == "-") throw UsageError("--queries - reads stdin: give the database with --db or --index");
      if (isatty(STDIN_FILENO))
        throw UsageError("no database: give --db SHARDS or --index DIR, or pipe embeddings into stdin");
      inputs = {"-"};
    }
    LoadOptions lo;
    lo.on_error = cmd.on_error, lo.normalize = !no_normalize;
    auto t = Clock::now();
    dbc = load_collection(inputs, lo);
    log::debug("loaded {} records ({} img, {} txt vectors) in {:.2f} s", dbc->size(), dbc->img.m.rows,
               dbc->txt.m.rows, seconds_since(t));
    return *dbc;
  }

  // Made before any data is read, so a missing GPU fails fast; never a
  // silent fall-back to the CPU.
  void open_device() {
    bool forced = cmd.device == "cpu" && std::getenv("CLIPPO_KNN_TORCH_SEARCH");  // tests: see knn_app.h
    if (cmd.device == "cpu" && !forced) return;
    if (!search_factory)
      throw Error(fmt::format("--device {}: this clippo-knn searches on the CPU only (use --device cpu)", cmd.device));
    device_search = search_factory(cmd.device);
  }

  TopK on_device(const float* q, int64_t nq, const float* db, int64_t nb, int dim, int k) {
    log::debug("exact top-{} of {} queries over {} vectors on --device {}", k, nq, nb, cmd.device);
    return device_search(q, nq, db, nb, dim, k);
  }
  // Exact top-k where --device says.
  TopK exact(const Matrix& q, const Matrix& db, int k) {
    if (!device_search) return exact_search(q, db, k);
    if (q.rows > 0 && db.rows > 0 && q.dim != db.dim)
      throw Error(fmt::format("queries have {} dimensions but the database has {}", q.dim, db.dim));
    return on_device(q.data.data(), q.rows, db.data.data(), db.rows, db.dim, k);
  }

  std::unique_ptr<QueryModel> open_model(const std::optional<std::string>& header) {
    ModelRequest req;
    req.header_json = header.value_or("");
    req.checkpoint = model;
    if (req.checkpoint.empty() && header) {
      req.checkpoint = header_model_path(*header).value_or("");
      req.from_header = true;
    }
    if (req.checkpoint.empty())
      throw Error("this query needs the model, but the database header names none; give --model CHECKPOINT "
                  "(or query with --query-emb vectors)");
    if (!factory) throw Error("this clippo-knn was built without the model; query with --query-emb vectors");
    req.device = cmd.device, req.threads = cmd.threads, req.batch_size = batch_size;
    return factory(req);
  }

  // Queries as (label, vector) from every query option, in option order.
  std::pair<std::vector<std::string>, Matrix> queries(const std::optional<std::string>& header, int dim) {
    std::vector<std::string> labels;
    Matrix q;
    q.dim = dim;
    auto add = [&](const Matrix& m, const std::vector<std::string>& l) {
      if (m.rows && m.dim != dim)
        throw Error(fmt::format("queries have {} dimensions but the database has {}; another model?", m.dim, dim));
      for (int64_t i = 0; i < m.rows; ++i) q.append(m.row(i));
      labels.insert(labels.end(), l.begin(), l.end());
    };
    auto texts = query_texts;
    if (queries_file == "-" && std::find(db.begin(), db.end(), "-") != db.end())
      throw UsageError("--queries - and the database both read stdin; put one of them in a file");
    if (!queries_file.empty()) {
      auto more = text::load_lines(queries_file, "queries");
      texts.insert(texts.end(), more.begin(), more.end());
    }
    std::unique_ptr<QueryModel> m;
    if (!texts.empty() || !query_images.empty()) m = open_model(header);
    if (!texts.empty()) add(m->embed_texts(texts), texts);
    if (!query_images.empty()) {
      std::vector<Image> images;
      for (auto& p : query_images) {
        try {
          images.push_back(decode_image(read_whole_file(p)));
        } catch (const Error& e) {
          const std::string what = e.what();  // read_whole_file's message names the file already
          throw Error(what.starts_with(p + ":") ? what : fmt::format("{}: {}", p, what));
        }
      }
      add(m->embed_images(images), query_images);
    }
    if (!query_embs.empty()) {
      LoadOptions lo;
      lo.on_error = cmd.on_error, lo.normalize = false;
      Collection qc = load_collection(query_embs, lo);
      if (header && qc.header) {
        auto a = header_model_id(*header), b = qc.model;
        if (!a.empty() && !b.empty() && a != b)
          throw Error(fmt::format("--query-emb vectors come from model '{}' but the database from '{}'", b, a));
      }
      std::string f = query_field == "auto" ? (qc.txt.m.rows ? "txt" : "img") : qc.resolve_field(query_field);
      const Vectors& v = qc.field(f);
      std::vector<std::string> l;
      for (int64_t r : v.record) l.push_back(qc.keys[r]);
      add(v.m, l);
    }
    if (labels.empty())
      throw UsageError("no queries: give --query, --queries, --query-image or --query-emb");
    if (!no_normalize) normalize_rows(q);
    return {labels, q};
  }

  void print_results(const std::vector<std::string>& labels, const TopK& top, const Collection& meta,
                     const std::vector<int64_t>* row_record) {
    std::string out;
    for (int64_t i = 0; i < top.nq; ++i)
      for (int r = 0; r < top.k; ++r) {
        int64_t id = top.id(i, r);
        if (id < 0) break;
        int64_t rec = row_record ? (*row_record)[id] : id;
        if (cmd.json) {
          JsonWriter j;
          j.begin_object().key("query").value(labels[i]).key("rank").value(r + 1);
          j.key("score").value(static_cast<double>(top.score(i, r))).key("key").value(meta.keys[rec]);
          j.key("text").value(meta.label_text(rec));
          if (!meta.jsons[rec].empty()) {
            try {
              JsonObject::parse(meta.jsons[rec], meta.keys[rec]);
              j.key("json").raw(meta.jsons[rec]);
            } catch (const Error&) {
            }
          }
          out += j.end_object().str() + "\n";
        } else {
          out += fmt::format("{}\t{}\t{:.6f}\t{}\t{}\n", cell(labels[i]), r + 1, top.score(i, r), cell(meta.keys[rec]),
                             cell(meta.label_text(rec)));
        }
      }
    std::cout << out << std::flush;
    // An IVF index visits --nprobe lists only, which may hold fewer than k.
    if (row_record || static_cast<int64_t>(meta.keys.size()) < top.k) return;
    int64_t short_queries = 0;
    for (int64_t i = 0; i < top.nq; ++i) short_queries += top.k > 0 && top.id(i, top.k - 1) < 0;
    if (short_queries)
      log::warn("{} of {} queries found fewer than {} results: the index searches --nprobe of its lists (raise it)",
                short_queries, top.nq, top.k);
  }

  int search() {
    if (k < 1) throw UsageError("-k must be at least 1");
    if (!index_dir.empty()) {
      if (!db.empty()) throw UsageError("give --db or --index, not both");
      IndexDir idx(index_dir);
      if (field != "auto" && !idx.field().empty() && field != idx.field())
        throw UsageError(fmt::format("--field {}: {} holds the {} vectors (build an index of the {} ones for that)",
                                     field, index_dir, idx.field(), field));
      auto [labels, q] = queries(idx.meta().header, idx.dim());
      auto t = Clock::now();
      TopK top;
      const bool flat_on_device = device_search && idx.flat_vectors();
      if (flat_on_device) {
        top = on_device(q.data.data(), q.rows, idx.flat_vectors(), idx.size(), idx.dim(), k);
      } else {
        if (cmd.device != "cpu")
          log::info("--device {}: {} indexes are searched on the CPU (the device does exact search and the model)",
                    cmd.device, idx.factory());
        top = idx.search(q, k, {nprobe, ef_search});
      }
      double s = seconds_since(t);
      log::debug("searched {} queries in {} vectors ({}{}) in {:.3f} s: {:.1f} queries/s", q.rows, idx.size(),
                 idx.factory(), flat_on_device ? ", --device " + cmd.device : "", s, q.rows / s);
      print_results(labels, top, idx.meta(), nullptr);
      return 0;
    }
    Collection& c = database();
    const Vectors& v = c.field(field);
    auto [labels, q] = queries(c.header, v.m.dim);
    auto t = Clock::now();
    TopK top = exact(q, v.m, k);
    double s = seconds_since(t);
    log::debug("searched {} queries in {} vectors (exact, {}) in {:.3f} s: {:.1f} queries/s", q.rows, v.m.rows,
               device_search ? "--device " + cmd.device : fmt::format("{} threads", threads()), s, q.rows / s);
    print_results(labels, top, c, &v.record);
    return 0;
  }

  int build() {
    if (cmd.output == "-") throw UsageError("build writes an index directory: give -o DIR");
    if (seed < 0) throw UsageError(fmt::format("--seed {}: must be >= 0", seed));
    if (train_size < 1) throw UsageError(fmt::format("--train-size {}: must be >= 1", train_size));
    prepare_index_dir(cmd.output);  // before the work: a folder it cannot replace is said at once
    Collection& c = database();
    std::string f = c.resolve_field(field);
    const Vectors& v = c.field(f);
    BuildOptions bo;
    bo.factory = index_type, bo.train_size = train_size, bo.seed = seed, bo.normalized = !no_normalize;
    auto t = Clock::now();
    auto index = build_index(v.m, bo);
    double s = seconds_since(t);
    save_index_dir(cmd.output, *index, c, v, f, bo);
    log::info("built {} over {} {} vectors of {} dimensions in {:.2f} s -> {}", index_type, v.m.rows, f, v.m.dim, s,
              cmd.output);
    return 0;
  }

  int zeroshot();
  int retrieval();
};

// Labels from cls or a json field: a class index, or a class name.
std::vector<int64_t> record_labels(const Collection& c, const std::vector<int64_t>& rows, const std::string& json_field,
                                   const std::vector<std::string>& names) {
  std::map<std::string, int64_t> by_name;
  for (size_t i = 0; i < names.size(); ++i) by_name.emplace(names[i], static_cast<int64_t>(i));
  std::vector<int64_t> out;
  for (int64_t r : rows) {
    std::optional<std::string> v;
    if (json_field.empty()) {
      if (!c.cls[r].empty()) v = c.cls[r];
    } else if (!c.jsons[r].empty()) {
      v = JsonObject::parse(c.jsons[r], c.keys[r] + ".json").get(json_field);
    }
    int64_t y = -1;
    if (v) {
      if (auto it = by_name.find(*v); it != by_name.end()) y = it->second;
      else {
        y = class_index(*v).value_or(-1);
        if (y < 0 || y >= static_cast<int64_t>(names.size()))
          throw Error(fmt::format("{}: label '{}' is neither a class index below {} nor a class name", c.keys[r], *v,
                                  names.size()));
      }
    }
    out.push_back(y);
  }
  return out;
}

int App::zeroshot() {
  Collection& c = database();
  const Vectors& x = c.field(field);
  std::vector<std::string> names;
  if (!classes_file.empty()) names = text::load_classes(classes_file);
  Matrix classes;
  if (!class_emb.empty()) {
    LoadOptions lo;
    lo.on_error = cmd.on_error, lo.normalize = false;
    Collection pc = load_collection({class_emb}, lo);
    if (!pc.model.empty() && !c.model.empty() && pc.model != c.model)
      throw Error(fmt::format("{}: class embeddings from model '{}', but the records' from '{}'", class_emb, pc.model,
                              c.model));
    const Vectors& pv = pc.field(query_field == "auto" ? "txt" : query_field);
    // Records carrying cls are prompts of that class; otherwise one record per class.
    std::vector<int64_t> group;
    int64_t n = 0;
    for (size_t i = 0; i < pv.record.size(); ++i) {
      int64_t r = pv.record[i], g = static_cast<int64_t>(i);
      if (!pc.cls[r].empty()) {
        auto y = class_index(pc.cls[r]);
        if (!y) throw Error(fmt::format("{}: {}: cls '{}' is not a class index", class_emb, pc.keys[r], pc.cls[r]));
        g = *y;
      }
      group.push_back(g), n = std::max(n, g + 1);
    }
    if (names.empty())
      for (int64_t g = 0; g < n; ++g) names.push_back(fmt::format("{}", g));
    if (static_cast<int64_t>(names.size()) != n)
      throw Error(fmt::format("{}: embeddings for {} classes, but {} names {}", class_emb, n, classes_file, names.size()));
    classes = mean_embeddings(pv.m, group, n);
  } else {
    if (names.empty()) throw UsageError("zeroshot needs --classes FILE (and a model) or --class-emb SHARD");
    auto templates = text::load_templates(prompts);
    auto texts = text::fill_templates(names, templates);
    auto m = open_model(c.header);
    log::info("embedding {} prompts ({} classes x {} templates)", texts.size(), names.size(), templates.size());
    Matrix pe = m->embed_texts(texts);
    std::vector<int64_t> group(texts.size());
    for (size_t i = 0; i < texts.size(); ++i) group[i] = static_cast<int64_t>(i / templates.size());
    classes = mean_embeddings(pe, group, static_cast<int64_t>(names.size()));
  }
  if (classes.dim != x.m.dim)
    throw Error(fmt::format("class embeddings have {} dimensions but the records {}", classes.dim, x.m.dim));
  TopK p = exact(x.m, classes, std::min<int>(5, static_cast<int>(classes.rows)));
  auto labels = record_labels(c, x.record, label_field, names);
  bool labelled = std::any_of(labels.begin(), labels.end(), [](int64_t y) { return y >= 0; });
  if (!label_field.empty() && !labelled)  // asked for by name: a typo, not unlabelled data
    throw Error(fmt::format("--label-field {}: no record's json has a label there", label_field));
  if (const auto unlabelled = std::count(labels.begin(), labels.end(), -1); labelled && unlabelled > 0)
    log::warn("{} of {} records have no label and are left out of the accuracy", unlabelled, labels.size());
  auto write_predictions = [&](std::ostream& out) {
    for (int64_t i = 0; i < p.nq; ++i) {
      int64_t r = x.record[i], y = labels[i];
      if (cmd.json && &out == &std::cout) {
        JsonWriter j;
        j.begin_object().key("key").value(c.keys[r]).key("class").value(p.id(i, 0)).key("name").value(names[p.id(i, 0)]);
        j.key("score").value(static_cast<double>(p.score(i, 0)));
        if (y >= 0) j.key("label").value(y);
        out << j.end_object().str() << "\n";
      } else {
        out << fmt::format("{}\t{}\t{}\t{:.6f}\t{}\n", cell(c.keys[r]), p.id(i, 0), cell(names[p.id(i, 0)]),
                           p.score(i, 0), y >= 0 ? cell(names[y]) : "");
      }
    }
  };
  if (!predictions.empty()) {  // whole or not at all, and a write error (a full disk) is told
    std::ostringstream text;
    write_predictions(text);
    write_file_atomic(predictions, text.str());
  }
  if (!labelled) {
    log::info("no labels (cls or --label-field) in the records: writing predictions");
    write_predictions(std::cout);
    return 0;
  }
  auto m = zeroshot_metrics(p, labels, classes.rows);
  size_t shown = std::min<size_t>(m.confusions.size(), 10);
  // With 5 classes or fewer every record is a top-5 hit: no measure at all
  // (as clippo-train's evaluation has it).
  const bool top5 = classes.rows > 5;
  if (cmd.json) {
    JsonWriter j;
    j.begin_object().key("records").value(m.n).key("classes").value(classes.rows);
    j.key("top1").value(m.top1).key("top5");
    if (top5) j.value(m.top5);
    else j.raw("null");
    j.key("confusions").begin_array();
    for (size_t i = 0; i < shown; ++i)
      j.begin_object().key("truth").value(names[m.confusions[i].truth]).key("predicted")
          .value(names[m.confusions[i].predicted]).key("count").value(m.confusions[i].count).end_object();
    std::cout << j.end_array().end_object().str() << "\n";
  } else {
    std::cout << fmt::format("records\t{}\nclasses\t{}\ntop1\t{:.6f}\n", m.n, classes.rows, m.top1);
    if (top5) std::cout << fmt::format("top5\t{:.6f}\n", m.top5);
    for (size_t i = 0; i < shown; ++i)
      std::cout << fmt::format("confusion\t{}\t{}\t{}\n", cell(names[m.confusions[i].truth]),
                               cell(names[m.confusions[i].predicted]), m.confusions[i].count);
  }
  return 0;
}

int App::retrieval() {
  Collection& c = database();
  auto s = make_retrieval_set(c, image_field);
  SearchFn search;
  if (device_search) search = [this](const float* q, int64_t nq, const float* db, int64_t nb, int dim, int k) {
    return on_device(q, nq, db, nb, dim, k);
  };
  auto m = retrieval_recall(s, {1, 5, 10}, search);
  if (cmd.json) {
    JsonWriter j;
    j.begin_object().key("images").value(m.images).key("texts").value(m.texts);
    for (size_t i = 0; i < m.ks.size(); ++i) j.key(fmt::format("i2t_recall@{}", m.ks[i])).value(m.i2t[i]);
    for (size_t i = 0; i < m.ks.size(); ++i) j.key(fmt::format("t2i_recall@{}", m.ks[i])).value(m.t2i[i]);
    std::cout << j.end_object().str() << "\n";
  } else {
    std::cout << fmt::format("images\t{}\ntexts\t{}\n", m.images, m.texts);
    for (size_t i = 0; i < m.ks.size(); ++i) std::cout << fmt::format("i2t_recall@{}\t{:.6f}\n", m.ks[i], m.i2t[i]);
    for (size_t i = 0; i < m.ks.size(); ++i) std::cout << fmt::format("t2i_recall@{}\t{:.6f}\n", m.ks[i], m.t2i[i]);
  }
  return 0;
}

}  // namespace

int knn_main(int argc, char** argv, const ModelFactory& factory, const SearchFactory& search) {
  return cli::run("clippo-knn", [&] {
    App app;
    app.factory = factory, app.search_factory = search;
    app.define();
    // The command is the first word when it names one; other words are
    // database shards, as after --db.
    static const std::set<std::string> commands{"search", "build", "zeroshot", "retrieval"};
    if (argc > 1 && commands.count(argv[1])) {
      app.command = argv[1];
      argv[1] = argv[0];
      ++argv, --argc;
    }
    auto vm = app.cmd.parse(argc, argv);
    for (auto [name, value] : {std::pair{"nprobe", app.nprobe}, {"ef-search", app.ef_search}})
      if (vm.count(name) && value < 1) throw UsageError(fmt::format("--{} {}: must be at least 1", name, value));
    if (app.batch_size < 0) throw UsageError(fmt::format("--batch-size {}: must be >= 0", app.batch_size));
    // An option of another command would be ignored: refused, as -o is.
    static const std::map<std::string, std::set<std::string>> only_for{
        {"query", {"search"}},       {"queries", {"search"}},      {"query-image", {"search"}},
        {"query-emb", {"search"}},   {"-k", {"search"}},           {"nprobe", {"search"}},
        {"ef-search", {"search"}},   {"index-type", {"build"}},
        {"train-size", {"build"}},   {"seed", {"build"}},          {"classes", {"zeroshot"}},
        {"prompts", {"zeroshot"}},   {"class-emb", {"zeroshot"}},  {"label-field", {"zeroshot"}},
        {"predictions", {"zeroshot"}}, {"image-field", {"retrieval"}}, {"query-field", {"search", "zeroshot"}}};
    for (const auto& [name, commands_of] : only_for)
      if (vm.count(name) && !vm[name].defaulted() && !commands_of.count(app.command))
        throw UsageError(fmt::format("{}{} is an option of {}, not of {}", name.starts_with('-') ? "" : "--", name,
                                     fmt::join(commands_of, " and "), app.command));
    for (auto& word : app.inputs)
      if (commands.count(word) && !std::filesystem::exists(word))
        throw UsageError(fmt::format("'{}' is a command: give it first (clippo-knn {} [OPTIONS])", word, word));
    if (app.command != "build" && app.cmd.output != "-")
      throw UsageError(fmt::format("-o is build's index directory; {} prints to stdout (redirect it with >)",
                                   app.command));
    app.db.insert(app.db.end(), app.inputs.begin(), app.inputs.end());
    set_threads(app.cmd.threads);
    if (app.command != "build") app.open_device();  // build trains and adds with FAISS on the CPU
    if (app.command == "search") return app.search();
    if (app.command == "build") return app.build();
    if (app.command == "zeroshot") return app.zeroshot();
    if (app.command == "retrieval") return app.retrieval();
    throw UsageError("unknown command '" + app.command + "' (search, build, zeroshot or retrieval)");
  });
}

}  // namespace clippo::search
