// Unifont .hex loading: `CODE:HEX` lines, 32 hex digits for an 8 px wide
// glyph (one byte per row) or 64 for a 16 px wide one (two bytes per row).
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "clippo/cli/error.h"
#include "clippo/cli/log.h"
#include "clippo/text/render.h"

namespace clippo::text {
namespace {

constexpr uint32_t kPages = 0x110000 >> 8;

// Hex digit values, 255 for anything else.
struct HexTable {
  uint8_t v[256];
  constexpr HexTable() : v() {
    for (int i = 0; i < 256; ++i) v[i] = 255;
    for (int i = 0; i < 10; ++i) v['0' + i] = static_cast<uint8_t>(i);
    for (int i = 0; i < 6; ++i) v['a' + i] = v['A' + i] = static_cast<uint8_t>(10 + i);
  }
};
constexpr HexTable kHex;

// The file's bytes, mapped (no copy) when it is a regular file.
class FileBytes {
 public:
  explicit FileBytes(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      if (path == kDefaultFontFile && err == ENOENT)
        throw Error(fmt::format("{}: no such file; install Debian's `unifont` package (apt-get install unifont) "
                                "or pass --font FILE.hex",
                                path));
      throw Error(fmt::format("{}: cannot open font: {}", path, std::strerror(err)));
    }
    struct stat st;
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
      void* p = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
      if (p != MAP_FAILED) {
        map_ = p, size_ = static_cast<size_t>(st.st_size);
        ::close(fd);
        return;
      }
    }
    char buf[1 << 16];  // a pipe, /dev/stdin, or mmap refused
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int err = errno;
        ::close(fd);
        throw Error(fmt::format("{}: cannot read font: {}", path, std::strerror(err)));
      }
      if (n == 0) break;
      data_.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
  }
  ~FileBytes() {
    if (map_) ::munmap(map_, size_);
  }
  FileBytes(const FileBytes&) = delete;
  FileBytes& operator=(const FileBytes&) = delete;
  std::string_view view() const { return map_ ? std::string_view(static_cast<const char*>(map_), size_) : data_; }

 private:
  void* map_ = nullptr;
  size_t size_ = 0;
  std::string data_;
};

}  // namespace

Font::Font() : pages_(kPages, 0), glyphs_(1) { glyphs_[0] = Glyph{}; }

uint32_t& Font::slot(char32_t cp) {
  uint32_t& page = pages_[cp >> 8];
  if (!page) {
    slots_.resize(slots_.size() + 256, 0);
    page = static_cast<uint32_t>(slots_.size() / 256);
  }
  return slots_[(page - 1) * 256 + (cp & 255)];
}

void Font::add_hex(std::string_view text, const std::string& name) {
  size_t pos = 0, line_no = 0, wide_skipped = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    auto bad = [&](const char* what) {
      return Error(fmt::format("{}:{}: not a Unifont .hex line ({})", name, line_no, what));
    };
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon > 8) throw bad("expected CODE:HEX");
    uint32_t cp = 0;
    for (size_t i = 0; i < colon; ++i) {
      uint8_t d = kHex.v[static_cast<uint8_t>(line[i])];
      if (d == 255) throw bad("code point is not hexadecimal");
      cp = cp * 16 + d;
    }
    if (cp > 0x10FFFF) throw bad("code point beyond U+10FFFF");
    std::string_view hex = line.substr(colon + 1);
    if (hex.size() != 32 && hex.size() != 64) {
      // Wider glyphs (24 or 32 px) exist in some Unifont files; big_vision's
      // loader cannot place them either.
      if (hex.size() % 32 == 0 && hex.size() <= 128) {
        ++wide_skipped;
        continue;
      }
      throw bad("glyph must have 32 or 64 hex digits");
    }
    Glyph g{};
    const size_t bytes_per_row = hex.size() / 32;
    for (int r = 0; r < 16; ++r) {
      uint16_t row = 0;
      for (size_t k = 0; k < bytes_per_row * 2; ++k) {
        uint8_t d = kHex.v[static_cast<uint8_t>(hex[r * bytes_per_row * 2 + k])];
        if (d == 255) throw bad("glyph is not hexadecimal");
        row = static_cast<uint16_t>(row << 4 | d);
      }
      // An 8 px glyph fills the left half of the 16 px cell.
      if (bytes_per_row == 1) row = static_cast<uint16_t>(row << 8);
      g.rows[r] = row;
    }
    uint16_t cols = 0;
    for (uint16_t row : g.rows) cols |= row;
    g.ink = cols != 0;
    if (g.ink) {
      g.first = static_cast<uint8_t>(__builtin_clz(static_cast<uint32_t>(cols)) - 16);
      g.last = static_cast<uint8_t>(15 - __builtin_ctz(static_cast<uint32_t>(cols)));
      int top = 0, bottom = 16;
      while (!g.rows[top]) ++top;
      while (!g.rows[bottom - 1]) --bottom;
      g.top = static_cast<uint8_t>(top), g.bottom = static_cast<uint8_t>(bottom);
    }
    uint32_t& s = slot(cp);
    if (s) {
      glyphs_[s] = g;  // a later definition replaces the earlier one
    } else {
      s = static_cast<uint32_t>(glyphs_.size());
      glyphs_.push_back(g);
    }
  }
  if (wide_skipped)
    log::warn("{}: {} glyph(s) wider than 16 px skipped (rendered as empty cells)", name, wide_skipped);
}

void Font::check_not_blank() const {
  if (glyph_count() == 0)
    throw Error(fmt::format("{}: no glyphs in {} (text would render blank)", fmt::join(files_, ", "),
                            files_.size() > 1 ? "them" : "it"));
}

std::shared_ptr<const Font> Font::parse(std::string_view hex, const std::string& name) {
  std::shared_ptr<Font> font(new Font());
  font->add_hex(hex, name);
  font->files_.push_back(name);
  font->check_not_blank();
  return font;
}

std::shared_ptr<const Font> Font::load(const std::vector<std::string>& hex_files) {
  std::vector<std::string> files = hex_files;
  if (files.empty()) files.emplace_back(kDefaultFontFile);
  std::shared_ptr<Font> font(new Font());
  font->glyphs_.reserve(60000);
  font->slots_.reserve(300 * 256);
  for (const auto& f : files) {
    FileBytes data(f);
    font->add_hex(data.view(), f);
    font->files_.push_back(f);
  }
  font->check_not_blank();
  return font;
}

}  // namespace clippo::text
