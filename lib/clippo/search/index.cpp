#include "clippo/search/index.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexPreTransform.h>
#include <faiss/IndexRefine.h>
#include <faiss/impl/FaissException.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>

#include "clippo/cli/log.h"
#include "clippo/io/atomic_file.h"
#include "clippo/io/json.h"
#include "clippo/io/paths.h"
#include "clippo/io/record_writer.h"
#include "clippo/search/ivf_scan.h"

namespace fs = std::filesystem;

namespace clippo::search {

std::unique_ptr<faiss::Index> build_index(const Matrix& v, const BuildOptions& opt) {
  if (v.rows == 0) throw Error("empty database: nothing to index");
  std::unique_ptr<faiss::Index> index;
  threads();  // applies --threads to OpenMP
  try {
    index.reset(faiss::index_factory(v.dim, opt.factory.c_str(), faiss::METRIC_INNER_PRODUCT));
  } catch (const faiss::FaissException& e) {
    throw UsageError(fmt::format("--index-type '{}' is not a FAISS index_factory string: {}", opt.factory, e.what()));
  }
  try {
    if (!index->is_trained) {
      // Train on a random sample; k-means gains little past ~256 vectors per list.
      int64_t n = std::min<int64_t>(v.rows, std::max<int64_t>(opt.train_size, 1));
      std::vector<float> sample;
      if (n == v.rows) {
        sample = v.data;
      } else {
        std::vector<int64_t> order(v.rows);
        std::iota(order.begin(), order.end(), 0);
        std::mt19937_64 rng(opt.seed);
        for (int64_t i = 0; i < n; ++i) std::swap(order[i], order[i + rng() % (v.rows - i)]);
        std::sort(order.begin(), order.begin() + n);
        sample.reserve(static_cast<size_t>(n) * v.dim);
        for (int64_t i = 0; i < n; ++i) sample.insert(sample.end(), v.row(order[i]), v.row(order[i]) + v.dim);
      }
      log::info("training {} on {} vectors", opt.factory, n);
      // FAISS's k-means prints its warnings to stderr itself: -q silences them.
      struct QuietStderr {
        int saved = -1;
        QuietStderr() {
          if (log::level() >= log::kWarnings) return;
          std::fflush(stderr);
          saved = ::dup(STDERR_FILENO);
          if (saved < 0) return;
          const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
          if (null >= 0) ::dup2(null, STDERR_FILENO), ::close(null);
        }
        ~QuietStderr() {
          if (saved < 0) return;
          std::fflush(stderr);
          ::dup2(saved, STDERR_FILENO), ::close(saved);
        }
      } quiet;
      index->train(n, sample.data());
    }
    index->add(v.rows, v.data.data());
  } catch (const faiss::FaissException& e) {
    throw Error(fmt::format("building {} over {} vectors failed: {}", opt.factory, v.rows, e.what()));
  }
  return index;
}

namespace {

constexpr const char* kIndexFiles[] = {"index.faiss", "meta.shard", "index.json"};

// The folder a build writes: the end of the links at `dir`, so a link stays one.
fs::path index_target(const std::string& dir) {
  std::error_code ec;
  return fs::is_symlink(fs::symlink_status(dir, ec)) ? fs::weakly_canonical(dir, ec) : fs::path(dir);
}

// Removes a folder the build made (or the old index it swapped out).
void remove_folder(const fs::path& p) {
  std::error_code ec;
  fs::remove_all(p, ec);
  if (ec) log::warn("{}: cannot remove: {}", p.string(), ec.message());
}

// The build's folder: removed unless installed.
struct BuildFolder {
  fs::path path;
  bool installed = false;
  ~BuildFolder() {
    if (!installed) remove_folder(path);
  }
};

// Puts `built` where `dir` is: a swap of the two folders where the file
// system has one, so there is an index at `dir` at every moment.
void install(const fs::path& built, const fs::path& dir, const std::string& name) {
  std::error_code ec;
  auto fail = [&](const char* what) {
    throw Error(fmt::format("{}: cannot {} the new index: {}", name, what, std::strerror(errno)));
  };
  if (!fs::exists(fs::symlink_status(dir, ec))) {
    if (std::rename(built.c_str(), dir.c_str()) != 0) fail("rename into place");
    return;
  }
  if (::renameat2(AT_FDCWD, built.c_str(), AT_FDCWD, dir.c_str(), RENAME_EXCHANGE) == 0) {
    remove_folder(built);  // the old index now
    return;
  }
  if (errno != EINVAL && errno != ENOSYS) fail("swap in");
  // No swap here (some network file systems): the old index moves aside first.
  const fs::path old = built.string() + ".old";
  if (std::rename(dir.c_str(), old.c_str()) != 0) fail("move the old index aside for");
  if (std::rename(built.c_str(), dir.c_str()) != 0) {
    const int err = errno;
    std::rename(old.c_str(), dir.c_str());
    errno = err;
    fail("rename into place");
  }
  remove_folder(old);
}

}  // namespace

void prepare_index_dir(const std::string& dir) {
  const fs::path target = index_target(dir);
  std::error_code ec;
  const auto st = fs::status(target, ec);
  if (fs::exists(st)) {
    if (!fs::is_directory(st)) throw Error(fmt::format("{}: not a folder (clippo-knn build writes an index folder)", dir));
    for (const auto& e : fs::directory_iterator(target, ec)) {
      const std::string f = e.path().filename().string();
      if (std::find(std::begin(kIndexFiles), std::end(kIndexFiles), f) == std::end(kIndexFiles))
        throw Error(fmt::format("{}: holds {}, which no index does: an index is replaced whole, so build it into a "
                                "folder of its own",
                                dir, f));
    }
    if (ec) throw Error(fmt::format("{}: cannot read: {}", dir, ec.message()));
  }
  // What builds that were killed left beside it: ".NAME.tmpPID" (".old").
  const fs::path parent = target.has_parent_path() ? target.parent_path() : ".";
  const std::string prefix = fmt::format(".{}.tmp", target.filename().string());
  for (const auto& e : fs::directory_iterator(parent, ec)) {
    std::string f = e.path().filename().string();
    if (!f.starts_with(prefix) || !e.is_directory(ec)) continue;
    f.erase(0, prefix.size());
    if (f.ends_with(".old")) f.resize(f.size() - 4);
    if (f.empty() || f.size() > 9 || f.find_first_not_of("0123456789") != std::string::npos) continue;
    if (!process_ended(static_cast<pid_t>(std::stol(f)))) continue;
    log::info("{}: removing the folder of a build that was killed", e.path().string());
    remove_folder(e.path());
  }
}

void save_index_dir(const std::string& dir, const faiss::Index& index, const Collection& c, const Vectors& v,
                    const std::string& field, const BuildOptions& opt) {
  const fs::path target = index_target(dir);
  if (target.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    if (ec) throw Error(fmt::format("{}: cannot create the folder for the index: {}", dir, ec.message()));
  }
  prepare_index_dir(dir);
  BuildFolder built{temporary_beside(target.string())};
  remove_folder(built.path);  // this process's from an earlier call
  if (!fs::create_directory(built.path))
    throw Error(fmt::format("{}: cannot create the index folder: {}", built.path.string(), std::strerror(errno)));
  const std::string ipath = (built.path / "index.faiss").string();
  try {
    faiss::write_index(&index, ipath.c_str());
  } catch (const faiss::FaissException& e) {
    throw Error(fmt::format("{}: cannot write the index: {}", (fs::path(dir) / "index.faiss").string(), e.what()));
  }
  // Records keyed by their row: the rows' own keys could repeat one in a row
  // (several inputs), which a reader would take as one record.
  RecordWriter w((built.path / "meta.shard").string(), Compression{});
  if (c.header) w.write(header_record(*c.header));
  for (int64_t row = 0; row < v.m.rows; ++row) {
    int64_t r = v.record[row];
    Record rec;
    rec.key = fmt::format("{:09d}", row);
    rec.set("key", c.keys[r]);
    if (!c.captions[r].empty()) rec.set("txt", c.captions[r]);
    if (!c.jsons[r].empty()) rec.set("json", c.jsons[r]);
    if (!c.cls[r].empty()) rec.set("cls", c.cls[r]);
    w.write(rec);
  }
  w.close();
  JsonWriter j;
  j.begin_object().key("factory").value(opt.factory).key("dim").value(static_cast<int64_t>(v.m.dim));
  j.key("count").value(v.m.rows).key("field").value(field).key("normalized").value(opt.normalized).end_object();
  write_file_atomic((built.path / "index.json").string(), j.str() + "\n");
  install(built.path, target, dir);
  built.installed = true;
}

void apply_search_params(faiss::Index& index, const SearchParams& p) {
  faiss::Index* x = &index;
  for (;;) {
    if (auto* t = dynamic_cast<faiss::IndexPreTransform*>(x)) x = t->index;
    else if (auto* r = dynamic_cast<faiss::IndexRefine*>(x)) x = r->base_index;
    else break;
  }
  if (auto* ivf = dynamic_cast<faiss::IndexIVF*>(x); ivf && p.nprobe > 0)
    ivf->nprobe = std::min<size_t>(p.nprobe, ivf->nlist);
  if (auto* h = dynamic_cast<faiss::IndexHNSW*>(x); h && p.ef_search > 0) h->hnsw.efSearch = p.ef_search;
}

TopK faiss_search(const faiss::Index& index, const Matrix& q, int k) {
  if (q.rows && q.dim != index.d)
    throw Error(fmt::format("queries have {} dimensions but the index has {}", q.dim, index.d));
  threads();
  TopK out;
  out.nq = q.rows, out.k = k;
  out.scores.resize(static_cast<size_t>(q.rows) * k);
  out.ids.resize(static_cast<size_t>(q.rows) * k);
  const int64_t batch = 4096;
  for (int64_t b = 0; b < q.rows; b += batch) {
    int64_t n = std::min(batch, q.rows - b);
    index.search(n, q.row(b), k, out.scores.data() + b * k, out.ids.data() + b * k);
  }
  // Same order as the exact search: score, then lower id; missing rows last.
  std::vector<std::pair<float, int64_t>> row(k);
  for (int64_t i = 0; i < q.rows; ++i) {
    for (int r = 0; r < k; ++r) row[r] = {out.scores[i * k + r], out.ids[i * k + r]};
    std::sort(row.begin(), row.end(), [](auto& a, auto& b) {
      if ((a.second < 0) != (b.second < 0)) return b.second < 0;
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
    for (int r = 0; r < k; ++r) {
      out.scores[i * k + r] = row[r].second < 0 ? -std::numeric_limits<float>::infinity() : row[r].first;
      out.ids[i * k + r] = row[r].second;
    }
  }
  return out;
}

IndexDir::IndexDir(const std::string& dir) {
  fs::path d(dir);
  if (!fs::is_directory(d)) throw Error(fmt::format("{}: not an index directory (make one with clippo-knn build)", dir));
  for (auto f : {"index.faiss", "meta.shard", "index.json"})
    if (!fs::exists(d / f)) throw Error(fmt::format("{}: missing {} (not a clippo-knn index?)", dir, f));
  std::string ipath = (d / "index.faiss").string();
  try {
    index_.reset(faiss::read_index(ipath.c_str()));
  } catch (const faiss::FaissException& e) {
    throw Error(fmt::format("{}: cannot read the FAISS index: {}", ipath, e.what()));
  }
  auto j = JsonObject::parse(read_whole_file((d / "index.json").string()), (d / "index.json").string());
  factory_ = j.get("factory").value_or("");
  field_ = j.get_string("field").value_or("");
  LoadOptions lo;
  lo.need_vectors = false;
  lo.key_member = true;
  lo.normalize = false;
  meta_ = load_collection({(d / "meta.shard").string()}, lo);
  if (static_cast<int64_t>(meta_.size()) != index_->ntotal)
    throw Error(fmt::format("{}: meta.shard has {} records but the index holds {} vectors", dir, meta_.size(),
                            index_->ntotal));
}

IndexDir::~IndexDir() = default;
IndexDir::IndexDir(IndexDir&&) noexcept = default;

int IndexDir::dim() const { return index_->d; }
int64_t IndexDir::size() const { return index_->ntotal; }

const float* IndexDir::flat_vectors() const {
  auto* flat = dynamic_cast<const faiss::IndexFlat*>(index_.get());
  return flat && flat->metric_type == faiss::METRIC_INNER_PRODUCT ? flat->get_xb() : nullptr;
}

TopK IndexDir::search(const Matrix& q, int k, const SearchParams& p) const {
  apply_search_params(*index_, p);
  TopK out;
  if (ivf_flat_search(*index_, q, k, p.nprobe, out)) return out;
  return faiss_search(*index_, q, k);
}

}  // namespace clippo::search
