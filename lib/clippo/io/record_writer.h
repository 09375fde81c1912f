// Writes webdataset records as tar streams, zstd-compressed by default.
// Files are written under a temporary name and renamed when complete, so an
// interrupted run never leaves a half shard under a final name.
#pragma once
#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "clippo/io/atomic_file.h"
#include "clippo/io/paths.h"
#include "clippo/io/record.h"

struct archive;

namespace clippo {

struct Compression {
  enum Kind { zstd, gzip, none } kind = zstd;
  int level = 3;    // zstd 1-19, gzip 1-9
  int threads = 0;  // zstd worker threads (0 = in the calling thread)
  // Parses "zstd", "zstd:9", "gzip", "none".
  static Compression parse(const std::string& spec);
};

// One tar stream to a file or "-" (stdout).
class RecordWriter {
 public:
  RecordWriter(std::string path, Compression compression);
  ~RecordWriter();  // without close(): the temporary file is removed
  RecordWriter(const RecordWriter&) = delete;
  RecordWriter& operator=(const RecordWriter&) = delete;

  void write(const Record& record);
  // Finishes the archive and fsyncs it, still under its temporary name
  // (removed by the destructor unless commit() follows).
  void finish();
  // Renames a finished file to its final name.
  void commit();
  void close() {
    finish();
    commit();
  }

  const std::string& path() const { return path_; }
  uint64_t records() const { return records_; }
  uint64_t bytes_in() const { return bytes_; }

 private:
  void check(int rc, const char* what);
  static ssize_t write_out(archive* a, void* self, const void* data, size_t size);  // libarchive's writer
  std::string path_;
  std::optional<AtomicFile> file_;  // none for stdout, a device or a FIFO
  int fd_ = -1;                     // what the archive writes to
  archive* archive_ = nullptr;
  int write_errno_ = 0;  // the first failed write (libarchive may not pass every one on)
  uint64_t records_ = 0, bytes_ = 0;
  std::string last_key_;  // a reader takes two records of one key in a row as one
};

// A set of shards named by an OutputPattern. A fixed list of N names without
// a shard size spreads records round-robin over the N shards; otherwise
// shards fill one after the other, `shard_size` records each. Every shard
// starts with the header record when one is given. close() writes
// sizes.json (shard basename -> records) beside the shards.
class ShardSetWriter {
 public:
  // each_shard: a shard gets its final name when it is full, so an
  // interrupted run keeps the full ones; whole_set: all at close(), so the
  // set is whole or absent.
  enum class Commit { each_shard, whole_set };
  ShardSetWriter(const std::string& pattern, uint64_t shard_size, Compression compression,
                 std::optional<std::string> header_json = std::nullopt, Commit commit = Commit::each_shard);
  ~ShardSetWriter();
  void write(const Record& record);
  void close();

  uint64_t records() const { return records_; }
  uint64_t shards() const { return names_.size(); }
  // Compressed bytes written (known after close()).
  uint64_t bytes_written() const { return bytes_written_; }

 private:
  RecordWriter& open(uint64_t i);
  OutputPattern pattern_;
  uint64_t shard_size_;
  bool round_robin_;
  Commit commit_;
  Compression compression_;
  std::optional<std::string> header_;
  std::vector<std::unique_ptr<RecordWriter>> writers_;
  std::vector<std::string> names_;
  std::vector<uint64_t> counts_;
  uint64_t records_ = 0, bytes_written_ = 0;
  bool closed_ = false;
};

// Where the number of records is known before writing: a usage error when
// `pattern` with `shard_size` (a fixed list of names times the shard size)
// cannot take them, rather than a failure after part of the work.
void check_shard_set_fits(const std::string& pattern, uint64_t shard_size, uint64_t records, const char* what);

// The `__clippo__` record holding a header's JSON.
Record header_record(std::string json);

}  // namespace clippo
