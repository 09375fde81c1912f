#include "clippo/io/line_reader.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "clippo/cli/error.h"
#include "clippo/io/input_bytes.h"
#include "clippo/io/utf8.h"

namespace clippo {

LineReader::LineReader(int fd, std::string name)
    : fd_(fd), pipe_(is_pipe(fd)), name_(std::move(name)), buf_(1 << 20) {}

namespace {
int open_or_throw(const std::string& path) {
  if (path == "-") return STDIN_FILENO;
  const int fd = open_for_reading(path);
  if (fd < 0) throw Error(fmt::format("{}: cannot read: {}", path, std::strerror(errno)));
  return fd;
}
}  // namespace

LineReader::LineReader(const std::string& path) : LineReader(open_or_throw(path), path == "-" ? "<stdin>" : path) {
  owned_ = fd_ != STDIN_FILENO;
}

LineReader::~LineReader() {
  if (owned_) ::close(fd_);
}

bool LineReader::refill() {
  if (eof_) return false;
  if (pos_ > 0) {
    std::memmove(buf_.data(), buf_.data() + pos_, len_ - pos_);
    len_ -= pos_, pos_ = 0;
  }
  if (len_ == buf_.size()) return true;
  const ssize_t n = read_or_stop(fd_, pipe_, buf_.data() + len_, buf_.size() - len_);
  if (n < 0 && errno == EINTR) return false;  // a stop ends a wait for input
  if (n < 0) throw Error(fmt::format("{}: cannot read: {}", name_, std::strerror(errno)));
  if (n == 0) eof_ = true;
  len_ += static_cast<size_t>(n);
  return n > 0;
}

void LineReader::fill(size_t n) {
  // A newline ends the wait too, so that interactive input is not held up.
  while (len_ - pos_ < n && !std::memchr(buf_.data() + pos_, '\n', len_ - pos_) && refill()) {
  }
}

bool LineReader::next(std::string& line, size_t cap, bool& cut) {
  line.clear();
  cut = false;
  bool any = false;
  for (;;) {
    if (pos_ == len_ && !refill()) {
      // A stop, not the end of input, cut this line: it is no line.
      if (!eof_) return false;
      break;
    }
    any = true;
    const char* start = buf_.data() + pos_;
    size_t avail = len_ - pos_;
    const char* nl = static_cast<const char*>(std::memchr(start, '\n', avail));
    size_t take = nl ? static_cast<size_t>(nl - start) : avail;
    size_t room = cap - line.size();
    if (take > room) cut = true;
    line.append(start, std::min(take, room));
    pos_ += take;
    if (nl) {
      ++pos_;
      break;
    }
  }
  if (!any) return false;
  if (!cut && !line.empty() && line.back() == '\r') line.pop_back();
  if (first_line_) strip_utf8_bom(line), first_line_ = false;
  return true;
}

}  // namespace clippo
