#include "clippo/io/input_bytes.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "clippo/cli/error.h"
#include "clippo/cli/stop.h"

namespace clippo {
namespace {

constexpr size_t kBuffer = 1 << 20;

enum class Codec { none, gzip, zstd };

Codec codec_of(const char* p, size_t n) {
  auto u = [&](size_t i) { return static_cast<unsigned char>(p[i]); };
  if (n >= 2 && u(0) == 0x1f && u(1) == 0x8b) return Codec::gzip;
  // A zstd frame, or a skippable frame (magic 0x184D2A5?, little-endian).
  if (n >= 4 && ((u(0) == 0x28 && u(1) == 0xb5 && u(2) == 0x2f && u(3) == 0xfd) ||
                 ((u(0) & 0xf0) == 0x50 && u(1) == 0x2a && u(2) == 0x4d && u(3) == 0x18)))
    return Codec::zstd;
  return Codec::none;
}

class FdInput final : public InputBytes {
 public:
  FdInput(int fd, bool owned) : fd_(fd), owned_(owned), pipe_(is_pipe(fd)), in_(kBuffer) {}
  ~FdInput() override {
    if (zlib_ready_) inflateEnd(&z_);
    if (zstd_) ZSTD_freeDStream(zstd_);
    if (owned_) ::close(fd_);
  }

  // Reads the first bytes to tell the compression; false with error() set.
  bool start() {
    while (in_end_ < 4 && !eof_)
      if (!fill()) return false;
    codec_ = codec_of(in_.data(), in_end_);
    if (codec_ != Codec::none) out_.resize(kBuffer);
    return true;
  }

  std::string_view decoding() const override {
    return codec_ == Codec::gzip ? "gzip" : codec_ == Codec::zstd ? "zstd" : "";
  }

  long read(const char** data) override {
    if (codec_ == Codec::none) {
      if (pos_ == in_end_ && !eof_ && !fill()) return -1;
      *data = in_.data() + pos_;
      const size_t n = in_end_ - pos_;
      pos_ = in_end_;
      return static_cast<long>(n);
    }
    for (;;) {
      if (pos_ == in_end_ && !eof_ && !fill()) return -1;
      if (!in_member_) {
        // Between members (gzip) or frames (zstd): another follows only if
        // its magic does (`cat a.shard b.shard`); zero padding ends the data,
        // and anything else is not silently dropped.
        while (in_end_ - pos_ < 4 && !eof_)
          if (!fill()) return -1;
        if (const Codec next = codec_of(in_.data() + pos_, in_end_ - pos_); next != codec_) {
          const char* rest = in_.data() + pos_;
          if (std::all_of(rest, static_cast<const char*>(in_.data() + in_end_), [](char c) { return c == 0; })) return 0;
          return fail(fmt::format("data after the end of the {} stream{}", decoding(),
                                  next == Codec::none ? "" : next == Codec::gzip ? " (a gzip stream)" : " (a zstd stream)"));
        }
        if (!begin_member()) return -1;
      }
      size_t produced = 0;
      const size_t before = pos_;
      if (!decode(produced)) return -1;
      if (produced > 0) {
        *data = out_.data();
        return static_cast<long>(produced);
      }
      if (pos_ == before && pos_ == in_end_ && eof_)
        return fail(fmt::format("truncated {} input: the stream ends inside a {}", decoding(),
                                codec_ == Codec::gzip ? "member" : "frame"));
    }
  }

 private:
  // More raw bytes after the unconsumed ones; on a pipe, in short waits
  // that a stop signal ends.
  bool fill() {
    if (pos_ > 0) {
      std::memmove(in_.data(), in_.data() + pos_, in_end_ - pos_);
      in_end_ -= pos_, pos_ = 0;
    }
    const ssize_t n = read_or_stop(fd_, pipe_, in_.data() + in_end_, in_.size() - in_end_);
    if (n < 0 && errno == EINTR) return broken("interrupted");
    if (n < 0) return broken(fmt::format("read error: {}", std::strerror(errno)));
    if (n == 0) eof_ = true;
    in_end_ += static_cast<size_t>(n);
    return true;
  }

  bool begin_member() {
    in_member_ = true;
    if (codec_ == Codec::gzip) {
      if (zlib_ready_) return inflateReset(&z_) == Z_OK || broken("gzip: cannot reset the decoder");
      z_ = {};
      if (inflateInit2(&z_, 16 + MAX_WBITS) != Z_OK) return broken("gzip: cannot start the decoder");
      zlib_ready_ = true;
      return true;
    }
    if (!zstd_ && !(zstd_ = ZSTD_createDStream())) return broken("zstd: cannot start the decoder");
    ZSTD_initDStream(zstd_);
    return true;
  }

  // Decodes from the unconsumed input into out_; ends the member at its end.
  bool decode(size_t& produced) {
    if (codec_ == Codec::gzip) {
      z_.next_in = reinterpret_cast<Bytef*>(in_.data() + pos_);
      z_.avail_in = static_cast<uInt>(in_end_ - pos_);
      z_.next_out = reinterpret_cast<Bytef*>(out_.data());
      z_.avail_out = static_cast<uInt>(out_.size());
      const int rc = inflate(&z_, Z_NO_FLUSH);
      pos_ = in_end_ - z_.avail_in;
      produced = out_.size() - z_.avail_out;
      if (rc == Z_STREAM_END) in_member_ = false;
      else if (rc != Z_OK && rc != Z_BUF_ERROR) return broken(fmt::format("gzip: {}", z_.msg ? z_.msg : "bad data"));
      return true;
    }
    ZSTD_inBuffer in{in_.data() + pos_, in_end_ - pos_, 0};
    ZSTD_outBuffer out{out_.data(), out_.size(), 0};
    const size_t rc = ZSTD_decompressStream(zstd_, &out, &in);
    if (ZSTD_isError(rc)) return broken(fmt::format("zstd: {}", ZSTD_getErrorName(rc)));
    pos_ += in.pos;
    produced = out.pos;
    if (rc == 0) in_member_ = false;  // the frame is whole and flushed
    return true;
  }

  bool broken(std::string what) {
    fail(std::move(what));
    return false;
  }

  int fd_;
  bool owned_, pipe_;
  Codec codec_ = Codec::none;
  std::vector<char> in_, out_;
  size_t pos_ = 0, in_end_ = 0;  // in_[pos_, in_end_) is read and not yet consumed
  bool eof_ = false, in_member_ = false;
  z_stream z_{};
  bool zlib_ready_ = false;
  ZSTD_DStream* zstd_ = nullptr;
};

}  // namespace

bool is_pipe(int fd) {
  struct stat st;
  return ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode);
}

ssize_t read_or_stop(int fd, bool pipe, void* buf, size_t n) {
  for (;;) {
    if (pipe) {
      if (cli::reading_stopped()) {
        errno = EINTR;
        return -1;
      }
      pollfd p{fd, POLLIN, 0};
      const int ready = ::poll(&p, 1, 200);
      if (ready == 0 || (ready < 0 && errno == EINTR)) continue;
    }
    const ssize_t got = ::read(fd, buf, n);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) {
      if (!pipe && cli::reading_stopped()) return -1;
      continue;
    }
    return got;
  }
}

int open_for_reading(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISFIFO(st.st_mode)) return ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  // A FIFO: opening it would wait for a writer; the reads poll instead.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  const int flags = fd >= 0 ? ::fcntl(fd, F_GETFL) : -1;
  if (fd >= 0 && (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0)) {
    const int err = errno;
    ::close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

std::unique_ptr<InputBytes> InputBytes::open(const std::string& path) {
  const int fd = path == "-" ? STDIN_FILENO : open_for_reading(path);
  if (fd < 0) throw Error(fmt::format("cannot open: {}", std::strerror(errno)));
  auto in = std::make_unique<FdInput>(fd, fd != STDIN_FILENO);
  if (!in->start()) throw Error(in->error());
  return in;
}

}  // namespace clippo
