#include "clippo/io/record_reader.h"

#include <archive.h>
#include <archive_entry.h>
#include <fmt/core.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>

#include "clippo/cli/log.h"
#include "clippo/cli/stop.h"
#include "clippo/io/archive_message.h"
#include "clippo/io/input_bytes.h"

namespace clippo {

namespace {

la_ssize_t read_input(archive* a, void* self, const void** out) {
  auto* in = static_cast<InputBytes*>(self);
  const char* data = nullptr;
  const long n = in->read(&data);
  if (n < 0) archive_set_error(a, -1, "%s", in->error().c_str());  // -1: libarchive's "miscellaneous" errno
  *out = data;
  return n;
}

}  // namespace

RecordReader::RecordReader(std::vector<std::string> inputs, OnError on_error)
    : inputs_(std::move(inputs)), on_error_(on_error) {}

RecordReader::~RecordReader() { close_input(); }

void RecordReader::close_input() {
  if (archive_) archive_read_free(archive_);
  archive_ = nullptr;
  input_.reset();
  have_pending_ = false;
}

bool RecordReader::open_next_input() {
  close_input();
  if (next_input_ >= inputs_.size()) return false;
  current_input_ = inputs_[next_input_++];
  fields_seen_.clear();
  try {
    input_ = InputBytes::open(current_input_);
  } catch (const Error& e) {
    damaged(e.what());
    return open_next_input();
  }
  archive_ = archive_read_new();
  // gzip and zstd arrive decoded; other compressions (bzip2, xz, ...) are
  // libarchive's.
  if (input_->decoding().empty()) archive_read_support_filter_all(archive_);
  archive_read_support_format_tar(archive_);
  // `cat a.shard b.shard | tool`: go past the zero blocks between archives.
  archive_read_set_format_option(archive_, "tar", "read_concatenated_archives", "1");
  const int rc = archive_read_open(archive_, input_.get(), nullptr, read_input, nullptr);
  if (rc != ARCHIVE_OK) {
    const std::string_view decoding = input_->decoding();
    std::error_code ec;
    const std::string path = current_input_ == "-" ? "/dev/stdin" : current_input_;
    const bool file = std::filesystem::is_regular_file(path, ec);  // else a pipe, of unknown size
    if (file && std::filesystem::file_size(path, ec) == 0 && !ec)
      damaged("an empty file, not a tar archive");
    else if (archive_errno(archive_) != EILSEQ)  // libarchive's ARCHIVE_ERRNO_FILE_FORMAT on Linux
      damaged(fmt::format("cannot read its first tar header: {}", archive_message(archive_)));
    else if (decoding.empty())
      damaged(file ? "not a tar archive (nor one compressed with zstd, gzip, bzip2 or xz)"
                   : "empty, or not a tar archive (nor one compressed with zstd, gzip, bzip2 or xz)");
    else
      damaged(fmt::format("its {}-decoded bytes are not a tar archive", decoding));
    return open_next_input();
  }
  return true;
}

std::string RecordReader::stream_position() const {
  const auto at = archive_filter_bytes(archive_, -1);
  const std::string_view decoding = input_->decoding();
  return decoding.empty() ? fmt::format("at byte {}", at) : fmt::format("at byte {} of its {}-decoded tar", at, decoding);
}

void RecordReader::damaged(const std::string& what) {
  if (cli::reading_stopped()) {  // a read ended by a stop: no damage, no more input
    close_input();
    next_input_ = inputs_.size();
    // The record begun is handed out unless the stop cut one of its members
    // (a stream cannot give it again): its members are whole.
    input_damaged_ = stopped_ = true;
    return;
  }
  std::string name = current_input_ == "-" ? "<stdin>" : current_input_;
  std::string msg = fmt::format("{}: {}", name, what);
  ++stats_.damaged_inputs;
  close_input();
  input_damaged_ = true;
  if (on_error_ == OnError::fail) throw Error(msg);
  log::warn("{} (rest of this input skipped)", msg);
}

bool RecordReader::read_member() {
  archive_entry* entry;
  for (;;) {
    int rc = archive_read_next_header(archive_, &entry);
    if (rc == ARCHIVE_EOF) {
      close_input();
      return false;
    }
    // RETRY (a damaged header libarchive would skip past) is damage as well:
    // what follows it cannot be trusted to start a record.
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
      damaged_key_.reset();  // the next member's key is unknown
      damaged(fmt::format("not a readable tar stream {}: {}", stream_position(), archive_message(archive_)));
      return false;
    }
    if (archive_entry_filetype(entry) != AE_IFREG) continue;  // directories, links
    std::string path = archive_entry_pathname(entry);
    if (path.starts_with("./")) path.erase(0, 2);
    auto [key, field] = split_member_name(path);
    la_int64_t size = archive_entry_size(entry);
    damaged_key_ = key;
    // The buffer grows with what arrives, not with what a (maybe damaged)
    // header claims.
    const size_t want = size > 0 ? static_cast<size_t>(size) : 0;
    std::string data(std::min<size_t>(want, 16 << 20), '\0');
    size_t got = 0;
    while (got < want) {
      if (got == data.size()) data.resize(std::min(want, 2 * data.size()));
      la_ssize_t n = archive_read_data(archive_, data.data() + got, data.size() - got);
      if (n <= 0) {
        damaged(fmt::format("member '{}' is truncated or corrupt {} ({} of {} bytes read){}", path,
                            stream_position(), got, want,
                            n < 0 ? std::string(": ") + archive_message(archive_) : ""));
        return false;
      }
      got += static_cast<size_t>(n);
    }
    pending_key_ = std::move(key);
    pending_field_ = std::move(field);
    pending_data_ = std::move(data);
    have_pending_ = true;
    return true;
  }
}

bool RecordReader::next(Record& out) {
  for (;;) {
    if (!archive_ && !open_next_input()) return false;
    input_damaged_ = false;
    if (!have_pending_ && !read_member()) continue;  // end of this input
    out.key = std::move(pending_key_);
    out.fields.clear();
    out.fields.emplace_back(std::move(pending_field_), std::move(pending_data_));
    have_pending_ = false;
    // Gather the run of members sharing the key.
    while (read_member() && pending_key_ == out.key) {
      out.fields.emplace_back(std::move(pending_field_), std::move(pending_data_));
      have_pending_ = false;
    }
    // Damage that may have hit this record's own members: it may miss fields.
    // Where the damaged member's key is unknown (a broken header), a record
    // holding every field the input's earlier records had is taken as whole;
    // after a stop between members, any is.
    auto whole = [&] {
      if (damaged_key_) return *damaged_key_ != out.key;
      if (stopped_) return true;
      return !fields_seen_.empty() &&
             std::all_of(fields_seen_.begin(), fields_seen_.end(), [&](const std::string& f) { return out.has(f); });
    };
    if (input_damaged_ && !whole()) {
      ++stats_.dropped_records;
      continue;
    }
    if (out.key == kHeaderKey) {
      if (auto* j = out.find("json")) {
        if (!header_) header_ = *j;
        latest_header_ = *j;
        ++headers_seen_;
      }
      continue;
    }
    for (const auto& [name, data] : out.fields) fields_seen_.insert(name);  // (the records' fields, not the header's)
    ++stats_.records;
    stats_.bytes += out.bytes();
    return true;
  }
}

}  // namespace clippo
