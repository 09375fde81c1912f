// Text -> image, pixel for pixel as big_vision's `render_unifont` (see
// DESIGN.md "Rendering"). No torch, no OpenCV behind this header: the training
// loader and the embedder call render() per caption from many threads.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "clippo/io/image.h"

namespace clippo::text {

struct RenderOptions {
  int size = 224;       // output is size x size
  int font_size = 16;   // 16 is exact; other sizes area-resize each glyph cell
  int max_chars = 768;  // code points kept after decoding (0 = all)
  bool lower = true;    // lowercase ASCII A-Z only
  int text_brightness = 0;
  int background_brightness = 127;
  bool monospace = false;  // full cells instead of trimmed glyphs
  int spacing = 1;         // columns kept left of the ink
  int min_width = 4;       // a trimmed glyph is at least this wide
};

// Throws UsageError naming the option when a value is out of range.
void validate(const RenderOptions& opt);

// Debian's unifont package; what Font::load() reads without arguments.
inline constexpr const char* kDefaultFontFile = "/usr/share/unifont/unifont.hex";

// A Unifont glyph table: 16 rows of 16 bits per code point (bit 15 = the
// leftmost column). Immutable after load; share it across threads.
class Font {
 public:
  struct Glyph {
    uint16_t rows[16];
    uint8_t first, last;  // first and last columns with ink (0, 0 when blank)
    uint8_t top, bottom;  // rows [top, bottom) hold all the ink (0, 0 when blank)
    uint8_t ink;          // whether any pixel is set
  };

  // Loads .hex files in order (a later file's glyph replaces an earlier
  // one's). Default: kDefaultFontFile, with an error naming the Debian
  // `unifont` package when it is missing. Malformed lines are an Error naming
  // file and line.
  static std::shared_ptr<const Font> load(const std::vector<std::string>& hex_files = {});
  // Parses .hex text held in memory (`name` is used in error messages).
  static std::shared_ptr<const Font> parse(std::string_view hex, const std::string& name = "<memory>");

  // The glyph of a code point; a blank glyph when the font has none.
  const Glyph& glyph(char32_t cp) const {
    if (cp > 0x10FFFF) return glyphs_[0];
    uint32_t page = pages_[cp >> 8];
    return glyphs_[page ? slots_[(page - 1) * 256 + (cp & 255)] : 0];
  }
  bool has_glyph(char32_t cp) const { return &glyph(cp) != &glyphs_[0]; }
  size_t glyph_count() const { return glyphs_.size() - 1; }
  const std::vector<std::string>& files() const { return files_; }

 private:
  Font();
  void add_hex(std::string_view text, const std::string& name);
  void check_not_blank() const;
  uint32_t& slot(char32_t cp);

  std::vector<uint32_t> pages_;   // cp >> 8 -> 1 + index of its 256-slot page, 0 = none
  std::vector<uint32_t> slots_;   // glyph index per code point of each page (0 = blank)
  std::vector<Glyph> glyphs_;     // glyphs_[0] is the blank glyph
  std::vector<std::string> files_;
};

// Step 1-2 of the algorithm: ASCII lowercasing (when `lower`), UTF-8 decoding
// with one U+FFFD per maximal invalid subsequence (TensorFlow's "replace"
// mode), at most max_chars code points (0 = all). Appends to `out`.
void decode_utf8(std::string_view utf8, bool lower, int max_chars, std::vector<char32_t>& out);
// The text as decode_utf8 reads it, in UTF-8: each maximal invalid
// subsequence becomes U+FFFD, so it renders as the bytes did.
std::string as_valid_utf8(std::string_view bytes);
// The length of the bytes that decode to the first max_chars code points
// (0 = all): where a caption may be cut without changing its image.
size_t utf8_prefix_bytes(std::string_view utf8, int max_chars);

// Renders into `out` (opt.size * opt.size bytes, row-major gray).
void render(std::string_view utf8, const Font& font, const RenderOptions& opt, uint8_t* out);
// The same as a 1-channel Image.
clippo::Image render_image(std::string_view utf8, const Font& font, const RenderOptions& opt);
// As the model takes it: 3 equal planes of v / 255 * 2 - 1 (opt.size squared
// floats each) into `chw`.
void render_model_input(std::string_view utf8, const Font& font, const RenderOptions& opt, float* chw);

// The renderer settings as a JSON object, for the __clippo__ header.
std::string settings_json(const RenderOptions& opt, const std::vector<std::string>& fonts);

}  // namespace clippo::text
