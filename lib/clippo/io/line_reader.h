#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace clippo {

// A line reader that holds at most `cap` bytes of a line, whatever its
// length, strips the CR of a CRLF line end and the first line's UTF-8
// byte-order mark. Waiting on a pipe ends at a stop (cli::reading_stopped),
// as the end of input does.
class LineReader {
 public:
  // Reads fd, which stays the caller's; `name` is for messages.
  explicit LineReader(int fd, std::string name = "<stdin>");
  // Opens path ("-": standard input) and closes it at the end; throws Error
  // naming the file when it cannot be opened.
  explicit LineReader(const std::string& path);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;
  // Reads the next line into `line` (without its end); false at the end of
  // input, and at a stop (the part of a line read before it is dropped).
  // `cut` tells whether bytes past `cap` were dropped.
  bool next(std::string& line, size_t cap, bool& cut);
  // Bytes already buffered but not returned (for peeking at a stream).
  std::string_view buffered() const { return {buf_.data() + pos_, len_ - pos_}; }
  // Reads until `n` bytes or a newline are buffered, or the input ends.
  void fill(size_t n);

 private:
  bool refill();
  int fd_;
  bool owned_ = false;
  bool pipe_;
  std::string name_;
  std::vector<char> buf_;
  size_t pos_ = 0, len_ = 0;
  bool eof_ = false;
  bool first_line_ = true;  // where a byte-order mark may stand
};

}  // namespace clippo
