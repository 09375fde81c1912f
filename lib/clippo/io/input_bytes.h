// The bytes of one input file, FIFO or stdin, with gzip and zstd decoded
// here rather than by libarchive. libarchive's filters drop what they had
// decoded when the stream breaks, so a shard cut short in its first
// megabyte gave no record at all; this source hands out every byte before
// the damage, then the error. Waits on a pipe end at a stop signal.
#pragma once
#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>

namespace clippo {

// read(2) that, on a pipe (not a regular file), waits in short polls and
// gives up, returning -1 with errno EINTR, once cli::reading_stopped().
ssize_t read_or_stop(int fd, bool pipe, void* buf, size_t n);
// Whether reads of fd can wait for ever: anything but a regular file.
bool is_pipe(int fd);
// open(2) for reading that does not wait for a FIFO's writer (the reads
// above wait, and end at a stop); -1 with errno on failure.
int open_for_reading(const std::string& path);

class InputBytes {
 public:
  // path: a file or "-". Throws Error when it cannot be opened.
  static std::unique_ptr<InputBytes> open(const std::string& path);
  virtual ~InputBytes() = default;

  // The next bytes (valid until the next call): > 0 bytes, 0 at the end, or
  // -1 with error() set.
  virtual long read(const char** data) = 0;
  const std::string& error() const { return error_; }
  // "gzip" or "zstd" when decoded here; "" passes the bytes as they are.
  virtual std::string_view decoding() const = 0;

 protected:
  long fail(std::string what) {
    error_ = std::move(what);
    return -1;
  }

 private:
  std::string error_;
};

}  // namespace clippo
