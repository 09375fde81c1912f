// The renderer: goldens derived by tests/ref/render_ref.py (numpy), UTF-8
// decoding as Python/ICU replace it, hand-checked layouts on a tiny font, and
// properties over random bytes and options.
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "clippo/io/json.h"
#include "clippo/io/line_reader.h"
#include "clippo/text/render.h"
#include "clippo/text/render_job.h"

using namespace clippo;
using namespace clippo::text;
namespace fs = std::filesystem;

namespace {

const Font& unifont() {
  static auto font = Font::load();
  return *font;
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::vector<char32_t> decode(std::string_view s, bool lower = false, int max_chars = 0) {
  std::vector<char32_t> out;
  decode_utf8(s, lower, max_chars, out);
  return out;
}

// A 16-row glyph line for a .hex file: 8 px wide, each row the same byte.
std::string hex8(uint32_t cp, const char* row_hex) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04X:", cp);
  std::string s = buf;
  for (int r = 0; r < 16; ++r) s += row_hex;
  return s + "\n";
}

}  // namespace

TEST_CASE("render matches the numpy reference goldens", "[render]") {
  const fs::path dir = fs::path(CLIPPO_TEST_DATA) / "render";
  int checked = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".txt") continue;
    std::string name = e.path().stem().string();
    std::string pgm = slurp(dir / (name + "-64.pgm"));
    const std::string header = "P5\n64 64\n255\n";
    REQUIRE(pgm.size() == header.size() + 64 * 64);
    RenderOptions o;
    o.size = 64;
    Image img = render_image(slurp(e.path()), unifont(), o);
    REQUIRE(img.channels == 1);
    INFO(name);
    CHECK(std::equal(img.pixels.begin(), img.pixels.end(), pgm.begin() + header.size()));
    ++checked;
  }
  CHECK(checked >= 15);
}

TEST_CASE("UTF-8 decoding replaces each maximal invalid subpart with one U+FFFD", "[render]") {
  const char32_t R = 0xFFFD;
  // The expected code points are what Python's bytes.decode('utf-8', 'replace') gives.
  CHECK(decode("ab") == std::vector<char32_t>{'a', 'b'});
  CHECK(decode("\xff") == std::vector<char32_t>{R});
  CHECK(decode("\xe2\x82") == std::vector<char32_t>{R});                  // truncated 3-byte sequence
  CHECK(decode("\xe2\x82(") == std::vector<char32_t>{R, '('});
  CHECK(decode("\xed\xa0\x80") == std::vector<char32_t>{R, R, R});        // a surrogate
  CHECK(decode("\xf4\x90\x80\x80") == std::vector<char32_t>{R, R, R, R});  // beyond U+10FFFF
  CHECK(decode("\xc0\x80") == std::vector<char32_t>{R, R});               // overlong
  CHECK(decode("\xe0\x80\x80") == std::vector<char32_t>{R, R, R});
  CHECK(decode("\xf0\x9f\x98") == std::vector<char32_t>{R});
  CHECK(decode("\xf0\x9f\x98\x80") == std::vector<char32_t>{0x1F600});
  CHECK(decode("\xc3\xbc") == std::vector<char32_t>{0xFC});
  CHECK(decode(std::string_view("a\0b", 3)) == std::vector<char32_t>{'a', 0, 'b'});
  CHECK(decode("\xf8\x88\x80\x80\x80") == std::vector<char32_t>{R, R, R, R, R});
  // The cases of TensorFlow's own unicode_decode tests (testErrorModes).
  CHECK(decode("==\xff==") == std::vector<char32_t>{'=', '=', R, '=', '='});
  CHECK(decode("\xed\xa0\xbd\xed\xb8\x80") == std::vector<char32_t>(6, R));  // a surrogate pair
  CHECK(decode("\xef\xb7\x90\xef\xbf\xbe\xef\xbf\xbf") == std::vector<char32_t>{0xFDD0, 0xFFFE, 0xFFFF});
  CHECK(decode("\xf4\x8f\xbf\xbf") == std::vector<char32_t>{0x10FFFF});
  CHECK(decode("\xd8\x01") == std::vector<char32_t>{R, 1});
}

TEST_CASE("lowercasing touches ASCII A-Z only; max_chars counts code points", "[render]") {
  // "ZÜRICH Ωmega" -> z Ü r i c h ' ' Ω m e g a
  auto cps = decode("Z\xc3\x9cRICH \xce\xa9MEGA", true);
  CHECK(cps == std::vector<char32_t>{'z', 0xDC, 'r', 'i', 'c', 'h', ' ', 0x3A9, 'm', 'e', 'g', 'a'});
  CHECK(decode("ABC", false) == std::vector<char32_t>{'A', 'B', 'C'});
  CHECK(decode("\xff\xff" "abc", false, 3) == std::vector<char32_t>{0xFFFD, 0xFFFD, 'a'});
  CHECK(utf8_prefix_bytes("h\xc3\xa9llo", 2) == 3);
  CHECK(utf8_prefix_bytes("\xe2\x82" "ab", 1) == 2);
  CHECK(utf8_prefix_bytes("abc", 0) == 3);
  CHECK(utf8_prefix_bytes("abc", 10) == 3);
}

TEST_CASE("Unifont .hex parsing", "[render][font]") {
  // 8 px glyph: byte 0x18 on every row -> columns 3 and 4.
  auto f = Font::parse(hex8(0x41, "18") + "4E2D:" + std::string(64, 'F') + "\n", "t.hex");
  CHECK(f->glyph_count() == 2);
  const auto& a = f->glyph(0x41);
  CHECK(a.rows[0] == 0x1800);
  CHECK(a.first == 3);
  CHECK(a.last == 4);
  CHECK(a.top == 0);
  CHECK(a.bottom == 16);
  CHECK(f->glyph(0x4E2D).rows[7] == 0xFFFF);
  CHECK(f->glyph(0x4E2D).last == 15);
  CHECK(f->has_glyph(0x41));
  CHECK_FALSE(f->has_glyph(0x42));
  CHECK(f->glyph(0x42).ink == 0);
  CHECK(f->glyph(0x110000).ink == 0);
  // A later definition replaces the earlier one.
  auto g = Font::parse(hex8(0x41, "18") + hex8(0x41, "80"), "t.hex");
  CHECK(g->glyph(0x41).rows[3] == 0x8000);
  CHECK_THROWS_WITH(Font::parse("0041:XYZ\n", "bad.hex"), Catch::Contains("bad.hex:1"));
  CHECK_THROWS_WITH(Font::parse("\n0041\n", "bad.hex"), Catch::Contains("bad.hex:2"));
  CHECK_THROWS_WITH(Font::parse("110000:" + std::string(32, '0') + "\n", "b.hex"), Catch::Contains("U+10FFFF"));
  CHECK_THROWS_WITH(Font::parse("\n\n", "empty.hex"), Catch::Contains("empty.hex: no glyphs in it"));
  CHECK_THROWS_WITH(Font::load({"/nonexistent/font.hex"}), Catch::Contains("/nonexistent/font.hex"));
  CHECK(Font::parse("0041:" + std::string(32, '0') + "\r\n")->glyph_count() == 1);
  // A second file of wide glyphs only adds none, and the font still has the first's.
  const auto dir = std::filesystem::temp_directory_path() / ("clippo_fonts_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "a.hex") << hex8(0x41, "18");
  std::ofstream(dir / "wide.hex") << "0042:" << std::string(96, '0') << "\n";
  CHECK(Font::load({(dir / "a.hex").string(), (dir / "wide.hex").string()})->glyph_count() == 1);
  CHECK_THROWS_WITH(Font::load({(dir / "wide.hex").string()}), Catch::Contains("wide.hex: no glyphs in it"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("Debian's unifont loads with its glyphs", "[render][font]") {
  const Font& f = unifont();
  CHECK(f.glyph_count() > 50000);
  CHECK(f.has_glyph('a'));
  CHECK(f.has_glyph(0x4E2D));        // CJK, 16 px wide
  CHECK(f.glyph(0x4E2D).last > 8);
  CHECK_FALSE(f.has_glyph(0x1F600));  // plane 1: not in unifont.hex
  CHECK(f.files() == std::vector<std::string>{kDefaultFontFile});
}

TEST_CASE("layout by hand on a tiny font", "[render]") {
  // 'a': columns 3-4 -> kept [2, 6): 4 px, ink at offsets 1-2.
  // 'b': column 0 only -> kept [0, 4): 4 px (min width), ink at offset 0.
  // ' ': no glyph line here -> empty cell, 4 blank px.
  auto f = Font::parse(hex8('a', "18") + hex8('b', "80"));
  RenderOptions o;
  o.size = 20;  // max width 4: a char goes to line floor(cumsum / 16)
  std::vector<uint8_t> img(400);
  render("ab ab", *f, o, img.data());
  auto ink = [&](int y, int x) { return img[y * 20 + x] == 0; };
  // cumsum 4, 8, 12, 16, 20 -> lines 0, 0, 0, 1, 1
  for (int y = 0; y < 16; ++y) {
    std::string row;
    for (int x = 0; x < 20; ++x) row += ink(y, x) ? '#' : '.';
    INFO("row " << y);
    CHECK(row == ".##.#...............");
  }
  for (int y = 16; y < 20; ++y) {
    std::string row;
    for (int x = 0; x < 20; ++x) row += ink(y, x) ? '#' : '.';
    CHECK(row == ".##.#...............");  // line 1: "ab", cut at the image bottom
  }
  // Monospace: 16 px cells, so 20 - 16 = 4 and "a" (cumsum 16) goes to
  // line 4, below the image; at size 40 it is on line 0 at its own columns.
  o.monospace = true;
  render("a", *f, o, img.data());
  CHECK(std::count(img.begin(), img.end(), 0) == 0);
  o.size = 40;
  std::vector<uint8_t> big(1600);
  render("a", *f, o, big.data());
  CHECK(big[3] == 0);
  CHECK(big[4] == 0);
  CHECK(std::count(big.begin(), big.end(), 0) == 32);
  o.size = 20;
  // Uppercase stays when not lowering, and a missing glyph is blank.
  o.monospace = false;
  o.lower = false;
  render("A", *f, o, img.data());
  CHECK(std::count(img.begin(), img.end(), 0) == 0);
  o.lower = true;
  render("A", *f, o, img.data());
  CHECK(std::count(img.begin(), img.end(), 0) == 32);
}

TEST_CASE("property: any bytes give a size x size image of the two values, cut at max_chars", "[render]") {
  std::mt19937 rng(1234);
  std::vector<uint8_t> img;
  const std::string alphabet[] = {"a", "Z", " ", "\xc3\xbc", "\xe4\xb8\xad", "\xf0\x9f\x98\x80", "\xff", "\t", "\n",
                                  std::string(1, '\0'), "\xe2\x82", "W", "."};
  for (int iter = 0; iter < 300; ++iter) {
    RenderOptions o;
    o.size = std::uniform_int_distribution<int>(1, 300)(rng);
    o.text_brightness = std::uniform_int_distribution<int>(0, 255)(rng);
    o.background_brightness = std::uniform_int_distribution<int>(0, 255)(rng);
    o.monospace = rng() % 4 == 0;
    o.spacing = std::uniform_int_distribution<int>(0, 3)(rng);
    o.min_width = std::uniform_int_distribution<int>(0, 20)(rng);
    o.max_chars = std::uniform_int_distribution<int>(0, 900)(rng);
    std::string text;
    int n = std::uniform_int_distribution<int>(0, 1200)(rng);
    for (int i = 0; i < n; ++i)
      text += rng() % 3 ? alphabet[rng() % std::size(alphabet)] : std::string(1, static_cast<char>(rng()));
    img.assign(static_cast<size_t>(o.size) * o.size + 64, 0xAB);
    render(text, unifont(), o, img.data());
    INFO("iteration " << iter << " size " << o.size);
    // Nothing written past the image.
    CHECK(std::all_of(img.end() - 64, img.end(), [](uint8_t v) { return v == 0xAB; }));
    img.resize(img.size() - 64);
    std::set<uint8_t> values(img.begin(), img.end());
    values.erase(static_cast<uint8_t>(o.text_brightness));
    values.erase(static_cast<uint8_t>(o.background_brightness));
    CHECK(values.empty());
    // The text cut after max_chars code points gives the same image.
    std::vector<uint8_t> cut(img.size());
    render(std::string_view(text).substr(0, utf8_prefix_bytes(text, o.max_chars)), unifont(), o, cut.data());
    CHECK(cut == img);
  }
}

TEST_CASE("empty text is a blank image; rendering is the same on every thread", "[render]") {
  RenderOptions o;
  Image blank = render_image("", unifont(), o);
  CHECK(blank.width == 224);
  CHECK(std::all_of(blank.pixels.begin(), blank.pixels.end(), [](uint8_t v) { return v == 127; }));
  const std::string text = "The same caption on four threads, \xe4\xb8\xad\xe6\x96\x87 and all.";
  Image want = render_image(text, unifont(), o);
  std::vector<Image> got(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) got[t] = render_image(i % 2 ? text : "other", unifont(), o);
    });
  for (auto& t : threads) t.join();
  for (auto& g : got) CHECK(g.pixels == want.pixels);
}

TEST_CASE("bad options are usage errors; settings_json names them", "[render]") {
  RenderOptions o;
  o.size = 0;
  CHECK_THROWS_AS(validate(o), UsageError);
  o = {};
  o.text_brightness = 256;
  CHECK_THROWS_AS(validate(o), UsageError);
  o = {};
  o.spacing = -1;
  CHECK_THROWS_AS(validate(o), UsageError);
  o = {};
  o.size = 384;
  o.lower = false;
  auto j = JsonObject::parse(settings_json(o, {"a.hex", "b.hex"}), "settings");
  CHECK(j.get("size") == "384");
  CHECK(j.get("font_size") == "16");
  CHECK(j.get("lower") == "false");
  CHECK(j.get("background_brightness") == "127");
  CHECK(j.get("fonts") == R"(["a.hex","b.hex"])");
}

TEST_CASE("LineReader: CRLF, NUL, a cap on long lines, no final newline", "[render]") {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  std::string input = std::string("one\r\ntw\0o\n\n", 11) + std::string(3 << 20, 'x') + "\nlast\r";
  std::thread writer([&] {
    size_t off = 0;
    while (off < input.size()) {
      ssize_t n = write(fds[1], input.data() + off, input.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    close(fds[1]);
  });
  LineReader r(fds[0]);
  std::string line;
  bool cut;
  REQUIRE(r.next(line, 100, cut));
  CHECK(line == "one");
  REQUIRE(r.next(line, 100, cut));
  CHECK(line == std::string("tw\0o", 4));
  REQUIRE(r.next(line, 100, cut));
  CHECK(line.empty());
  REQUIRE(r.next(line, 100, cut));
  CHECK(line == std::string(100, 'x'));
  CHECK(cut);
  REQUIRE(r.next(line, 100, cut));
  CHECK(line == "last");
  CHECK_FALSE(cut);
  CHECK_FALSE(r.next(line, 100, cut));
  writer.join();
  close(fds[0]);
}

TEST_CASE("terminal art: half blocks, cropped to the ink", "[render]") {
  // 4x4 image, ink at (0,0), (1,0), (1,1), (2,2).
  std::vector<uint8_t> px(16, 127);
  px[0] = px[4] = px[5] = px[10] = 0;
  CHECK(terminal_art(px.data(), 4, 127) == "\u2588\u2584\n  \u2580\n");
  // Blank rows above the ink are cropped: ink at (1,0) only.
  std::vector<uint8_t> low(16, 127);
  low[4] = 0;
  CHECK(terminal_art(low.data(), 4, 127) == "\u2580\n");
  std::vector<uint8_t> blank(16, 127);
  CHECK(terminal_art(blank.data(), 4, 127) == "\n");
}
