#include "clippo/io/record_writer.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>

#include "clippo/cli/error.h"
#include "clippo/cli/log.h"
#include "clippo/io/archive_message.h"
#include "clippo/io/atomic_file.h"
#include "clippo/io/json.h"
#include "clippo/io/paths.h"

namespace fs = std::filesystem;

namespace clippo {

Compression Compression::parse(const std::string& spec) {
  Compression c;
  auto colon = spec.find(':');
  std::string kind = spec.substr(0, colon);
  if (kind == "zstd") c.kind = zstd;
  else if (kind == "gzip") c.kind = gzip, c.level = 6;
  else if (kind == "none") c.kind = none;
  else throw UsageError("compression must be zstd, gzip or none (optionally :LEVEL), not '" + spec + "'");
  if (colon != std::string::npos) {
    try {
      c.level = std::stoi(spec.substr(colon + 1));
    } catch (...) {
      throw UsageError("bad compression level in '" + spec + "'");
    }
    int max = c.kind == zstd ? 19 : 9;
    if (c.level < 1 || c.level > max) throw UsageError(fmt::format("compression level must be 1..{}", max));
  }
  return c;
}

RecordWriter::RecordWriter(std::string path, Compression compression) : path_(std::move(path)) {
  struct stat st;
  if (path_ == "-") {
    fd_ = STDOUT_FILENO;
  } else if (::stat(path_.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
    // A device or a FIFO (-o /dev/null, a named pipe) is written in place:
    // renaming a temporary file over it would replace it.
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd_ < 0) throw Error(fmt::format("{}: cannot open: {}", path_, std::strerror(errno)));
  } else {
    file_.emplace(path_, AtomicFile::made);
    fd_ = file_->fd();
  }
  archive_ = archive_write_new();
  // pax keeps long names and large sizes; GNU tar and Python's tarfile read it.
  check(archive_write_set_format_pax_restricted(archive_), "set format");
  switch (compression.kind) {
    case Compression::zstd:
      check(archive_write_add_filter_zstd(archive_), "zstd filter");
      check(archive_write_set_filter_option(archive_, "zstd", "compression-level",
                                            std::to_string(compression.level).c_str()),
            "zstd level");
      if (compression.threads > 0)
        archive_write_set_filter_option(archive_, "zstd", "threads", std::to_string(compression.threads).c_str());
      break;
    case Compression::gzip:
      check(archive_write_add_filter_gzip(archive_), "gzip filter");
      check(archive_write_set_filter_option(archive_, "gzip", "compression-level",
                                            std::to_string(compression.level).c_str()),
            "gzip level");
      break;
    case Compression::none:
      break;
  }
  // Large blocks mean few write calls; the last one is not padded.
  archive_write_set_bytes_per_block(archive_, 1 << 20);
  archive_write_set_bytes_in_last_block(archive_, 1);
  check(archive_write_open2(archive_, this, nullptr, write_out, nullptr, nullptr), "open");
}

// Every write checked here: a zstd stream's last blocks, written as the
// archive closes, once failed (a full disk) without libarchive saying so.
ssize_t RecordWriter::write_out(archive* a, void* self, const void* data, size_t size) {
  auto* w = static_cast<RecordWriter*>(self);
  const char* p = static_cast<const char*>(data);
  for (size_t left = size; left > 0;) {
    const ssize_t n = ::write(w->fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (!w->write_errno_) w->write_errno_ = n < 0 ? errno : ENOSPC;
      archive_set_error(a, w->write_errno_, "%s", std::strerror(w->write_errno_));
      return -1;
    }
    p += n, left -= static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(size);
}

RecordWriter::~RecordWriter() {
  // Not finished: archive_write_free alone would write the end blocks and
  // make a cut stream (on stdout, a FIFO) look whole; marked failed, it does not.
  if (archive_) {
    archive_write_fail(archive_);
    archive_write_free(archive_);
  }
  if (!file_ && fd_ >= 0 && fd_ != STDOUT_FILENO) ::close(fd_);  // a file_ removes its temporary itself
}

void RecordWriter::check(int rc, const char* what) {
  const std::string name = path_ == "-" ? "<stdout>" : path_;
  if (write_errno_) throw Error(fmt::format("{}: write failed ({}): {}", name, what, std::strerror(write_errno_)));
  if (rc < ARCHIVE_WARN)
    throw Error(fmt::format("{}: write failed ({}): {}{}", name, what,
                            archive_message(archive_),
                            archive_errno(archive_) > 0 ? fmt::format(" ({})", std::strerror(archive_errno(archive_)))
                                                        : std::string()));
}

void RecordWriter::write(const Record& record) {
  size_t slash = record.key.rfind('/');
  if (record.key.empty() || record.key.find('.', slash == std::string::npos ? 0 : slash) != std::string::npos)
    throw Error(fmt::format("{}: bad record key '{}' (a key's basename may not hold a '.')", path_, record.key));
  if (record.key == last_key_)
    throw Error(fmt::format("{}: record key '{}' twice in a row: readers would take the two records as one",
                            path_ == "-" ? "<stdout>" : path_, record.key));
  last_key_ = record.key;
  archive_entry* entry = archive_entry_new();
  for (auto& [field, bytes] : record.fields) {
    archive_entry_clear(entry);
    std::string name = field.empty() ? record.key : record.key + "." + field;
    archive_entry_set_pathname(entry, name.c_str());
    archive_entry_set_size(entry, static_cast<la_int64_t>(bytes.size()));
    archive_entry_set_filetype(entry, AE_IFREG);
    archive_entry_set_perm(entry, 0644);
    archive_entry_set_mtime(entry, 0, 0);  // reproducible output
    int rc = archive_write_header(archive_, entry);
    if (rc >= ARCHIVE_WARN && !bytes.empty())
      rc = archive_write_data(archive_, bytes.data(), bytes.size()) == static_cast<la_ssize_t>(bytes.size())
               ? ARCHIVE_OK
               : ARCHIVE_FATAL;
    if (rc < ARCHIVE_WARN) {
      archive_entry_free(entry);
      check(rc, name.c_str());
    }
    bytes_ += bytes.size();
  }
  archive_entry_free(entry);
  ++records_;
}

void RecordWriter::finish() {
  if (!archive_) return;
  check(archive_write_close(archive_), "close");
  archive_write_free(archive_);
  archive_ = nullptr;
  const int fd = fd_;
  fd_ = -1;
  if (file_) {
    file_->finish();
  } else if (fd != STDOUT_FILENO && ::close(fd) != 0) {  // a device or a FIFO
    throw Error(fmt::format("{}: cannot write: {}", path_, std::strerror(errno)));
  }
}

void RecordWriter::commit() {
  if (file_ && !archive_) file_->commit(), file_.reset();
}

namespace {

// The entries of sizes.json's other shards that still exist join `sizes`
// (two sets, one folder). When the new shards are a numbered set, one that
// shares their name pattern is likely left from an earlier, longer run of
// this set, and is pointed out.
void keep_other_sizes(const std::string& path, bool numbered_set, std::map<std::string, uint64_t>& sizes) {
  if (!fs::is_regular_file(path)) return;  // none yet; something else there fails the write, by name
  auto family = [](const std::string& name) {  // the name without its last run of digits
    size_t end = name.find_last_of("0123456789");
    if (end == std::string::npos) return name;
    size_t start = name.find_last_not_of("0123456789", end);
    return name.substr(0, start + 1) + "#" + name.substr(end + 1);
  };
  const fs::path dir = fs::path(path).parent_path();
  const std::string ours = family(sizes.begin()->first);
  std::vector<std::string> stale;
  try {
    const JsonObject old = JsonObject::parse(read_whole_file(path), path);
    for (auto& name : old.keys()) {
      auto n = old.get_number(name);
      if (!n || sizes.count(name) || !fs::is_regular_file(dir / name)) continue;
      sizes[name] = static_cast<uint64_t>(*n);
      if (numbered_set && family(name) == ours) stale.push_back((dir / name).string());
    }
  } catch (const Error& e) {
    log::warn("{} (rewritten with this run's shards only)", e.what());
  }
  if (!stale.empty())
    log::warn("{} shard(s) of the same name pattern from an earlier run remain beside these ({}{}); "
              "remove them if they are not meant to go with this set",
              stale.size(), stale.front(), stale.size() > 1 ? ", ..." : "");
}

}  // namespace

void check_shard_set_fits(const std::string& pattern, uint64_t shard_size, uint64_t records, const char* what) {
  if (shard_size == 0 || pattern == "-") return;
  const auto names = OutputPattern(pattern).count();
  if (names && records > *names * shard_size)
    throw UsageError(fmt::format("{} {}, but -o '{}' with --shard-size {} holds at most {}: widen the pattern or "
                                 "raise --shard-size",
                                 records, what, pattern, shard_size, *names * shard_size));
}

Record header_record(std::string json) {
  Record r;
  r.key = std::string(kHeaderKey);
  r.fields.emplace_back("json", std::move(json));
  return r;
}

ShardSetWriter::ShardSetWriter(const std::string& pattern, uint64_t shard_size, Compression compression,
                               std::optional<std::string> header_json, Commit commit)
    : pattern_(pattern),
      shard_size_(shard_size),
      commit_(commit),
      compression_(compression),
      header_(std::move(header_json)) {
  round_robin_ = shard_size_ == 0 && pattern_.count().value_or(1) > 1;
  if (shard_size_ == 0 && !pattern_.count())
    throw UsageError("output pattern '" + pattern + "' has no fixed number of shards: give --shard-size");
  if (pattern == "-" && shard_size_ > 0) shard_size_ = 0;  // stdout is one stream
}

ShardSetWriter::~ShardSetWriter() = default;  // unclosed writers remove their temporary files

RecordWriter& ShardSetWriter::open(uint64_t i) {
  while (writers_.size() <= i) {
    uint64_t n = writers_.size();
    writers_.push_back(std::make_unique<RecordWriter>(pattern_.name(n), compression_));
    names_.push_back(pattern_.name(n));
    counts_.push_back(0);
    if (header_) writers_.back()->write(header_record(*header_));
  }
  return *writers_[i];
}

void ShardSetWriter::write(const Record& record) {
  uint64_t shard = round_robin_ ? records_ % *pattern_.count() : shard_size_ ? records_ / shard_size_ : 0;
  // Sequential filling: finish the previous shard as soon as the next starts.
  if (!round_robin_ && shard > 0 && writers_.size() == shard && writers_[shard - 1]) {
    if (commit_ == Commit::each_shard) writers_[shard - 1]->close();
    else writers_[shard - 1]->finish();
  }
  open(shard).write(record);
  ++counts_[shard];
  ++records_;
}

void ShardSetWriter::close() {
  if (closed_) return;
  // Every named shard of a round-robin list exists, and an empty run still
  // writes one valid (empty) shard.
  open(round_robin_ ? *pattern_.count() - 1 : 0);
  for (auto& w : writers_) w->finish();
  for (auto& w : writers_) w->commit();
  for (auto& n : names_)
    if (n != "-" && fs::is_regular_file(n)) bytes_written_ += fs::file_size(n);
  closed_ = true;
  // No sizes.json for stdout or a device (-o /dev/null).
  if (names_.size() == 1 && (names_[0] == "-" || !fs::is_regular_file(names_[0]))) return;
  // sizes.json beside the shards, as open_clip and webdataset tools read it.
  fs::path dir = fs::path(names_[0]).parent_path();
  const std::string final_name = (dir / "sizes.json").string();
  std::map<std::string, uint64_t> sizes;
  for (size_t i = 0; i < names_.size(); ++i) sizes[fs::path(names_[i]).filename().string()] = counts_[i];
  keep_other_sizes(final_name, shard_size_ > 0 || round_robin_, sizes);
  JsonWriter j;
  j.begin_object();
  for (auto& [name, n] : sizes) j.key(name).value(n);
  j.end_object();
  write_file_atomic(final_name, j.str() + "\n");
}

}  // namespace clippo
