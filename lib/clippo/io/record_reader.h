// Reads webdataset records from tar streams (zstd, gzip or plain, detected by
// magic), across files, brace patterns, concatenated archives and stdin.
#pragma once
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "clippo/cli/error.h"
#include "clippo/io/record.h"

struct archive;

namespace clippo {

class InputBytes;

struct ReadStats {
  uint64_t records = 0, bytes = 0;
  uint64_t damaged_inputs = 0;   // inputs cut short by corruption
  uint64_t dropped_records = 0;  // records left incomplete by corruption
};

class RecordReader {
 public:
  // inputs: file names or "-" (already expanded; see expand_inputs).
  // With OnError::skip a damaged input is reported, counted and the reader
  // goes on with the next input; with fail it throws.
  explicit RecordReader(std::vector<std::string> inputs, OnError on_error = OnError::skip);
  ~RecordReader();
  RecordReader(const RecordReader&) = delete;
  RecordReader& operator=(const RecordReader&) = delete;

  // The next record; false at the end of all inputs. The `__clippo__` header
  // record of each input is taken out of the stream (see header()).
  bool next(Record& out);

  // The first header seen (JSON text), if any.
  const std::optional<std::string>& header() const { return header_; }
  // The latest header, and how many were seen: a concatenated stream
  // (`cat a.shard b.shard`) brings one per archive.
  const std::optional<std::string>& latest_header() const { return latest_header_; }
  uint64_t headers_seen() const { return headers_seen_; }
  // The input the last record came from.
  const std::string& current_input() const { return current_input_; }
  const ReadStats& stats() const { return stats_; }

 private:
  bool open_next_input();
  void close_input();
  // Reads the next member into pending_; false at the end of the input.
  bool read_member();
  void damaged(const std::string& what);
  // "at byte N" of the tar stream (of the decoded one for gzip and zstd).
  std::string stream_position() const;

  std::vector<std::string> inputs_;
  size_t next_input_ = 0;
  OnError on_error_;
  archive* archive_ = nullptr;
  std::string current_input_;
  bool have_pending_ = false, input_damaged_ = false;
  bool stopped_ = false;  // a stop signal ended the reading (cli::reading_stopped)
  std::string pending_key_, pending_field_, pending_data_;
  std::optional<std::string> header_, latest_header_;
  uint64_t headers_seen_ = 0;
  std::optional<std::string> damaged_key_;  // key of the member being read when damage hit
  std::set<std::string> fields_seen_;       // field names of this input's records so far
  std::unique_ptr<InputBytes> input_;        // what archive_ reads
  ReadStats stats_;
};

}  // namespace clippo
