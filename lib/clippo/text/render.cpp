// The renderer. Steps follow DESIGN.md "Rendering"; the comments name the
// big_vision behaviour each one reproduces.
#include "clippo/text/render.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "clippo/cli/error.h"
#include "clippo/io/json.h"

namespace clippo::text {

void validate(const RenderOptions& o) {
  auto need = [](bool ok, const char* what) {
    if (!ok) throw UsageError(what);
  };
  need(o.size >= 1 && o.size <= 16384, "--size must be 1..16384");
  need(o.font_size >= 1 && o.font_size <= 1024, "--font-size must be 1..1024");
  need(o.max_chars >= 0, "--max-chars must be >= 0 (0 = no limit)");
  need(o.text_brightness >= 0 && o.text_brightness <= 255, "--text-brightness must be 0..255");
  need(o.background_brightness >= 0 && o.background_brightness <= 255, "--background-brightness must be 0..255");
  need(o.spacing >= 0 && o.spacing <= 1024, "--spacing must be 0..1024");
  need(o.min_width >= 0 && o.min_width <= 1024, "--min-width must be 0..1024");
}

namespace {

// Decodes the non-ASCII sequence at p (p < end), advancing p. The
// well-formed sequences are those of Unicode Table 3-7; on a bad byte the
// maximal valid prefix becomes one U+FFFD and decoding resumes at the bad
// byte, as ICU's converter (TensorFlow's "replace") and Python do.
inline char32_t decode_sequence(const uint8_t*& p, const uint8_t* end) {
  const uint8_t b = *p++;
  int n;
  uint8_t lo = 0x80, hi = 0xBF;
  char32_t cp;
  if (b >= 0xC2 && b <= 0xDF) n = 1, cp = b & 0x1F;
  else if (b >= 0xE0 && b <= 0xEF) n = 2, cp = b & 0x0F, lo = b == 0xE0 ? 0xA0 : 0x80, hi = b == 0xED ? 0x9F : 0xBF;
  else if (b >= 0xF0 && b <= 0xF4) n = 3, cp = b & 0x07, lo = b == 0xF0 ? 0x90 : 0x80, hi = b == 0xF4 ? 0x8F : 0xBF;
  else return 0xFFFD;
  for (int k = 0; k < n; ++k, lo = 0x80, hi = 0xBF) {
    if (p == end || *p < lo || *p > hi) return 0xFFFD;
    cp = cp << 6 | (*p++ & 0x3F);
  }
  return cp;
}

}  // namespace

void decode_utf8(std::string_view s, bool lower, int max_chars, std::vector<char32_t>& out) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const auto* end = p + s.size();
  const size_t limit = max_chars > 0 ? out.size() + static_cast<size_t>(max_chars) : SIZE_MAX;
  while (p < end && out.size() < limit) {
    const uint8_t b = *p;
    if (b < 0x80) {
      out.push_back(lower && b >= 'A' && b <= 'Z' ? b + 32 : b);  // tf.strings.lower: ASCII only
      ++p;
    } else {
      out.push_back(decode_sequence(p, end));
    }
  }
}

std::string as_valid_utf8(std::string_view bytes) {
  std::vector<char32_t> cps;
  decode_utf8(bytes, false, 0, cps);
  std::string out;
  out.reserve(bytes.size() + 8);
  for (const char32_t c : cps) {
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (c < 0x800) {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      out += static_cast<char>(0xE0 | (c >> 12));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (c >> 18));
      out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

size_t utf8_prefix_bytes(std::string_view s, int max_chars) {
  if (max_chars <= 0) return s.size();
  const auto* begin = reinterpret_cast<const uint8_t*>(s.data());
  const auto* p = begin;
  const auto* end = p + s.size();
  for (int i = 0; i < max_chars && p < end; ++i) {
    if (*p < 0x80) ++p;
    else decode_sequence(p, end);
  }
  return static_cast<size_t>(p - begin);
}

namespace {

// One glyph placed in the image: its cell, first kept column, width, origin.
struct Placed {
  const Font::Glyph* glyph;
  int first, width, x, line;
};

struct Scratch {
  std::vector<char32_t> cps;
  std::vector<Placed> placed;
  std::vector<float> cells;  // font_size != 16: resized cells, font_size^2 each
  int lut_text = -1, lut_background = -1;
  uint8_t lut[256][8];  // byte of glyph bits -> 8 pixels

  void make_lut(int text, int background) {
    if (text == lut_text && background == lut_background) return;
    for (int v = 0; v < 256; ++v)
      for (int j = 0; j < 8; ++j) lut[v][j] = static_cast<uint8_t>(v >> (7 - j) & 1 ? text : background);
    lut_text = text, lut_background = background;
  }
};

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// Trimming (big_vision trim_letter): keep columns [first', end) with
// first' = max(first - spacing, 0) and end = max(last + spacing, first' +
// min_width), clipped to the cell as a Python slice is.
inline void trim(int first, int last, const RenderOptions& o, int cell, int& kept_first, int& width) {
  kept_first = std::max(first - o.spacing, 0);
  int end = std::min(std::max(last + o.spacing, kept_first + o.min_width), cell);
  kept_first = std::min(kept_first, cell);
  width = std::max(end - kept_first, 0);
}

// Line breaking (big_vision to_image): char i goes to line
// floor(float32(cumsum(w)_i) / float32(size - max(w))). Fills x and line;
// returns false when nothing is drawn.
bool layout(std::vector<Placed>& placed, int size) {
  int max_w = 0;
  for (auto& p : placed) max_w = std::max(max_w, p.width);
  if (max_w == 0) return false;
  const float div = static_cast<float>(size - max_w);
  int64_t cum = 0;
  int line = -1, x = 0;
  for (size_t i = 0; i < placed.size(); ++i) {
    auto& p = placed[i];
    cum += p.width;
    // big_vision fails when no glyph fits beside the widest one; we give
    // each character a line of its own instead.
    int l = div > 0 ? static_cast<int>(std::min(std::floor(static_cast<float>(cum) / div), 1e9f))
                    : static_cast<int>(std::min<size_t>(i, 1000000000));
    if (l != line) line = l, x = 0;
    p.x = x, p.line = l;
    x += p.width;
  }
  return true;
}

// TensorFlow's ResizeArea (align_corners=false) of one 16x16 0/1 cell to
// n x n floats, with its float32 arithmetic.
void resize_area(const uint16_t* rows, int n, float* out) {
  const int in = 16;
  const float scale_f = in / static_cast<float>(n);
  const float scale = static_cast<float>(1.0 / (scale_f * scale_f));
  auto bound = [](int64_t v) { return std::min<int64_t>(in - 1, std::max<int64_t>(0, v)); };
  auto pix = [&](int64_t y, int64_t x) { return static_cast<float>(rows[bound(y)] >> (15 - bound(x)) & 1); };
  // Weight of input index i for the output span [a, b).
  auto weight = [&](int64_t i, float a, float b) -> float {
    if (i < a) return i + 1 > b ? scale_f : i + 1 - a;
    return i + 1 > b ? b - i : 1.0f;
  };
  for (int y = 0; y < n; ++y) {
    const float in_y = y * scale_f, in_y1 = (y + 1) * scale_f;
    const int64_t y_start = static_cast<int64_t>(std::floor(in_y)), y_end = static_cast<int64_t>(std::ceil(in_y1));
    for (int x = 0; x < n; ++x) {
      const float in_x = x * scale_f, in_x1 = (x + 1) * scale_f;
      const int64_t x_start = static_cast<int64_t>(std::floor(in_x)), x_end = static_cast<int64_t>(std::ceil(in_x1));
      const float start_scale = weight(x_start, in_x, in_x1), end_scale = weight(x_end - 1, in_x, in_x1);
      float sum = 0;
      for (int64_t i = y_start; i < y_end; ++i) {
        float sum_y = pix(i, x_start) * start_scale;
        if (x_start + 1 != x_end) {
          for (int64_t xx = x_start + 1; xx < x_end - 1; ++xx) sum_y += pix(i, xx);
          sum_y += pix(i, x_end - 1) * end_scale;
        }
        sum += sum_y * weight(i, in_y, in_y1);
      }
      out[y * n + x] = sum * scale;
    }
  }
}

// font_size != 16: glyph cells area-resized to floats, then
// uint8(v * (text - background) + background), truncated, as big_vision.
void render_scaled(Scratch& s, const RenderOptions& o, uint8_t* out) {
  const int n = o.font_size, size = o.size;
  const size_t cell = static_cast<size_t>(n) * n;
  s.cells.resize(s.placed.size() * cell);
  for (size_t i = 0; i < s.placed.size(); ++i) {
    auto& p = s.placed[i];
    float* c = &s.cells[i * cell];
    resize_area(p.glyph->rows, n, c);
    if (o.monospace) {
      p.first = 0, p.width = n;
      continue;
    }
    int first = -1, last = 0;
    for (int x = 0; x < n; ++x) {
      bool ink = false;
      for (int y = 0; y < n; ++y) ink |= c[y * n + x] != 0.0f;
      if (ink) {
        if (first < 0) first = x;
        last = x;
      }
    }
    trim(std::max(first, 0), last, o, n, p.first, p.width);
  }
  if (!layout(s.placed, size)) return;
  const float span = static_cast<float>(o.text_brightness - o.background_brightness);
  const float bg = static_cast<float>(o.background_brightness);
  for (size_t i = 0; i < s.placed.size(); ++i) {
    const auto& p = s.placed[i];
    const int64_t y0 = static_cast<int64_t>(p.line) * n;
    if (y0 >= size) break;
    const float* c = &s.cells[i * cell];
    for (int r = 0; r < n && y0 + r < size; ++r)
      for (int j = 0; j < p.width && p.x + j < size; ++j) {
        float v = c[r * n + p.first + j] * span;
        v = v + bg;
        out[(y0 + r) * size + p.x + j] = static_cast<uint8_t>(static_cast<int>(v));
      }
  }
}

}  // namespace

namespace {

// Draws one glyph of the 16 px path with its top left corner at (x, y0).
inline void draw(uint8_t* out, int size, int x, int64_t y0, const Font::Glyph& g, int first, int width,
                 const uint8_t (*lut)[8], uint8_t text) {
  const int rows = static_cast<int>(std::min<int64_t>(g.bottom, size - y0));
  const uint32_t keep = 0xFFFFu << (16 - width) & 0xFFFFu;
  uint8_t* dst = out + y0 * size + x;
  if (x + 16 <= size) {
    // Spans of 8 px from a table. Every pixel that is not ink stays
    // background: a span's columns past the glyph's width are written as
    // background, earlier glyphs have no ink there (theirs lies to the
    // left), and later glyphs overwrite them.
    if (width <= 8) {  // all kept columns in the first span (most Latin glyphs)
      for (int r = g.top; r < rows; ++r) {
        uint32_t bits = (static_cast<uint32_t>(g.rows[r]) << first) & keep;
        std::memcpy(dst + static_cast<ptrdiff_t>(r) * size, lut[bits >> 8], 8);
      }
      return;
    }
    for (int r = g.top; r < rows; ++r) {
      uint32_t bits = (static_cast<uint32_t>(g.rows[r]) << first) & keep;
      uint8_t* d = dst + static_cast<ptrdiff_t>(r) * size;
      std::memcpy(d, lut[bits >> 8], 8);
      std::memcpy(d + 8, lut[bits & 255], 8);
    }
    return;
  }
  const int cols = std::min(width, size - x);  // clipped at the right edge
  for (int r = g.top; r < rows; ++r) {
    uint32_t bits = (static_cast<uint32_t>(g.rows[r]) << first) & keep;
    uint8_t* d = dst + static_cast<ptrdiff_t>(r) * size;
    for (int j = 0; j < cols; ++j)
      if (bits >> (15 - j) & 1) d[j] = text;
  }
}

}  // namespace

void render(std::string_view utf8, const Font& font, const RenderOptions& o, uint8_t* out) {
  validate(o);
  const int size = o.size;
  std::memset(out, o.background_brightness, static_cast<size_t>(size) * size);
  Scratch& s = scratch();
  s.cps.clear();
  decode_utf8(utf8, o.lower, o.max_chars, s.cps);
  if (s.cps.empty()) return;  // a blank image (big_vision fails here)
  const size_t n = s.cps.size();
  s.placed.resize(n);
  Placed* placed = s.placed.data();
  for (size_t i = 0; i < n; ++i) placed[i].glyph = &font.glyph(s.cps[i]);
  if (o.font_size != 16) return render_scaled(s, o, out);

  int max_w = 0;
  for (size_t i = 0; i < n; ++i) {
    Placed& p = placed[i];
    if (o.monospace) p.first = 0, p.width = 16;
    else trim(p.glyph->first, p.glyph->last, o, 16, p.first, p.width);
    max_w = std::max(max_w, p.width);
  }
  if (max_w == 0) return;
  s.make_lut(o.text_brightness, o.background_brightness);
  const auto text = static_cast<uint8_t>(o.text_brightness);
  if (size - max_w <= 0) {  // the rare case of one character per line
    layout(s.placed, size);
    for (size_t i = 0; i < n; ++i) {
      const Placed& p = placed[i];
      const int64_t y0 = static_cast<int64_t>(p.line) * 16;
      if (y0 >= size) break;
      if (p.width) draw(out, size, p.x, y0, *p.glyph, p.first, p.width, s.lut, text);
    }
    return;
  }
  // Line breaking as big_vision's to_image: char i goes to line
  // floor(float32(cumsum(w)_i) / float32(size - max w)); lines past the
  // bottom are dropped.
  const float div = static_cast<float>(size - max_w);
  int64_t cum = 0, line = -1, y0 = 0;
  int x = 0;
  for (size_t i = 0; i < n; ++i) {
    const Placed& p = placed[i];
    cum += p.width;
    // Both operands are positive: truncation is the floor.
    const auto l = static_cast<int64_t>(static_cast<float>(cum) / div);
    if (l != line) {
      line = l, x = 0, y0 = l * 16;
      if (y0 >= size) break;
    }
    if (p.width) draw(out, size, x, y0, *p.glyph, p.first, p.width, s.lut, text);
    x += p.width;
  }
}

Image render_image(std::string_view utf8, const Font& font, const RenderOptions& opt) {
  validate(opt);
  Image img;
  img.width = img.height = opt.size;
  img.channels = 1;
  img.pixels.resize(static_cast<size_t>(opt.size) * opt.size);
  render(utf8, font, opt, img.pixels.data());
  return img;
}

void render_model_input(std::string_view utf8, const Font& font, const RenderOptions& opt, float* chw) {
  const size_t plane = static_cast<size_t>(opt.size) * opt.size;
  std::vector<uint8_t> gray(plane);
  render(utf8, font, opt, gray.data());
  for (size_t i = 0; i < plane; ++i) chw[i] = gray[i] / 255.0f * 2.0f - 1.0f;
  std::copy(chw, chw + plane, chw + plane);
  std::copy(chw, chw + plane, chw + 2 * plane);
}

std::string settings_json(const RenderOptions& o, const std::vector<std::string>& fonts) {
  JsonWriter j;
  j.begin_object();
  j.key("renderer").value("big_vision render_unifont");
  j.key("size").value(o.size);
  j.key("font_size").value(o.font_size);
  j.key("max_chars").value(o.max_chars);
  j.key("lower").value(o.lower);
  j.key("text_brightness").value(o.text_brightness);
  j.key("background_brightness").value(o.background_brightness);
  j.key("monospace").value(o.monospace);
  j.key("spacing").value(o.spacing);
  j.key("min_width").value(o.min_width);
  j.key("fonts").begin_array();
  for (const auto& f : fonts) j.value(f);
  j.end_array();
  j.end_object();
  return j.str();
}

}  // namespace clippo::text
