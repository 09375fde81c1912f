#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>

#include <zlib.h>

#include "clippo/cli/error.h"
#include "clippo/io/image.h"

using namespace clippo;

namespace {
std::string slurp(const std::string& name) {
  std::ifstream f(std::string(CLIPPO_TEST_DATA) + "/images/" + name, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}
Image gradient(int w, int h) {
  Image im{w, h, 3, std::vector<uint8_t>(static_cast<size_t>(w) * h * 3)};
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) im.pixels[(y * w + x) * 3 + c] = static_cast<uint8_t>((x * 2 + y + c * 30) % 256);
  return im;
}
double mean_abs_diff(const Image& a, const Image& b) {
  double s = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) s += std::abs(a.pixels[i] - b.pixels[i]);
  return s / a.pixels.size();
}
}  // namespace

TEST_CASE("PNG and PGM written by Python decode to the same pixels") {
  Image png = decode_image(slurp("rgb8x6.png"));
  CHECK(png.width == 8);
  CHECK(png.height == 6);
  CHECK(std::string(png.pixels.begin(), png.pixels.end()) == slurp("rgb8x6.rgb"));
  Image pgm = decode_image(slurp("gray7x5.pgm"));
  REQUIRE(pgm.channels == 3);
  std::string gray = slurp("gray7x5.raw");
  for (size_t i = 0; i < gray.size(); ++i) REQUIRE(pgm.pixels[3 * i + 1] == static_cast<uint8_t>(gray[i]));
}

TEST_CASE("plain and 16-bit PGM/PPM scale their samples to 0..255 as netpbm does") {
  // Plain (P2, P3) with maxval 15: 0, 15 -> 0, 255; 7 -> round(7 * 255 / 15) = 119.
  Image g = decode_image("P2\n# a comment\n3 1\n15\n0 7 15\n");
  REQUIRE(g.width == 3);
  CHECK(g.pixels == std::vector<uint8_t>{0, 0, 0, 119, 119, 119, 255, 255, 255});
  Image c = decode_image("P3 1 1 255 10 20 30");
  CHECK(c.pixels == std::vector<uint8_t>{10, 20, 30});
  // Binary 16-bit: big-endian samples, 0x8080 of 65535 -> round(32896 * 255 / 65535) = 128.
  Image w = decode_image(std::string("P5\n2 1\n65535\n\x80\x80\xff\xff", 17));
  CHECK(w.pixels == std::vector<uint8_t>{128, 128, 128, 255, 255, 255});
  CHECK_THROWS_WITH(decode_image("P2 2 1 15 3 16"), Catch::Contains("above maxval"));
  CHECK_THROWS_WITH(decode_image("P2 2 1 15 3"), Catch::Contains("truncated"));
}

namespace {
// A PNG written here (zlib, filter 0), independent of the decoder.
std::string png_file(int w, int h, int color_type, int depth, const std::vector<uint8_t>& samples,
                     const std::string& extra_chunks = {}) {
  auto chunk = [](const std::string& type, const std::string& data) {
    std::string c = type + data;
    auto be32 = [](uint32_t v) { return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; };
    return be32(static_cast<uint32_t>(data.size())) + c +
           be32(static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(c.data()), static_cast<uInt>(c.size()))));
  };
  const size_t row = samples.size() / h;
  std::string raw;
  for (int y = 0; y < h; ++y) raw += '\0' + std::string(samples.begin() + y * row, samples.begin() + (y + 1) * row);
  uLongf n = compressBound(raw.size());
  std::string z(n, '\0');
  compress(reinterpret_cast<Bytef*>(z.data()), &n, reinterpret_cast<const Bytef*>(raw.data()), raw.size());
  z.resize(n);
  std::string ihdr{char(0), char(0), char(0), char(w), char(0), char(0), char(0), char(h), char(depth), char(color_type),
                   0, 0, 0};
  return "\x89PNG\r\n\x1a\n" + chunk("IHDR", ihdr) + extra_chunks + chunk("IDAT", z) + chunk("IEND", "");
}
std::string gama_chunk(uint32_t gamma) {  // gAMA: gamma x 100000
  std::string data{char(gamma >> 24), char(gamma >> 16), char(gamma >> 8), char(gamma)};
  std::string c = "gAMA" + data;
  uint32_t crc = static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(c.data()), static_cast<uInt>(c.size())));
  return std::string{0, 0, 0, 4} + c + std::string{char(crc >> 24), char(crc >> 16), char(crc >> 8), char(crc)};
}
}  // namespace

TEST_CASE("PNG decodes as TensorFlow's decode_png(channels=3): alpha dropped, 16 bits cut, no gamma") {
  // Two pixels, grey 200 and an RGB colour, each with alpha 128 / 0.
  Image rgba = decode_image(png_file(2, 1, 6, 8, {200, 200, 200, 128, 10, 20, 30, 0}));
  CHECK(rgba.pixels == std::vector<uint8_t>{200, 200, 200, 10, 20, 30});
  Image gray_alpha = decode_image(png_file(2, 1, 4, 8, {200, 128, 7, 0}));
  CHECK(gray_alpha.pixels == std::vector<uint8_t>{200, 200, 200, 7, 7, 7});
  // 16-bit RGB: the high byte of each sample (0x8080 -> 0x80, 0x40ff -> 0x40).
  Image deep = decode_image(png_file(1, 1, 2, 16, {0x80, 0x80, 0x40, 0xff, 0x00, 0x01}));
  CHECK(deep.pixels == std::vector<uint8_t>{0x80, 0x40, 0x00});
  // A gAMA chunk (gamma 1.0) changes nothing.
  Image gamma = decode_image(png_file(1, 1, 2, 8, {128, 64, 32}, gama_chunk(100000)));
  CHECK(gamma.pixels == std::vector<uint8_t>{128, 64, 32});
  // 2-bit grey expands to 8 bits (0, 85, 170, 255).
  Image low = decode_image(png_file(4, 1, 0, 2, {0b00011011}));
  CHECK(low.pixels == std::vector<uint8_t>{0, 0, 0, 85, 85, 85, 170, 170, 170, 255, 255, 255});
}

TEST_CASE("JPEG, PNG and WebP round trips") {
  Image im = gradient(64, 48);
  CHECK(sniff_image_format(encode_image(im, "jpg", 95)) == "jpg");
  CHECK(mean_abs_diff(decode_image(encode_image(im, "jpg", 95)), im) < 3.0);
  CHECK(decode_image(encode_image(im, "png")).pixels == im.pixels);
  CHECK(mean_abs_diff(decode_image(encode_image(im, "webp", 90)), im) < 4.0);
}

TEST_CASE("a JPEG decodes at a reduced DCT scale only down to the size asked for") {
  std::string jpg = encode_image(gradient(640, 480), "jpg", 90);
  CHECK(decode_image(jpg).width == 640);
  Image quarter = decode_image(jpg, 120);  // 480 / 4 = 120 is still enough
  CHECK(quarter.width == 160);
  CHECK(quarter.height == 120);
  CHECK(decode_image(jpg, 121).height == 240);
  CHECK(decode_image(jpg, 1000).height == 480);
}

TEST_CASE("broken images give clear errors") {
  std::string jpg = encode_image(gradient(256, 256), "jpg", 90);  // half of it is scan data
  CHECK_THROWS_WITH(decode_image(jpg.substr(0, jpg.size() / 2)), Catch::Contains("truncated JPEG"));
  CHECK_THROWS_WITH(decode_image("hello world"), Catch::Contains("not an image"));
  CHECK_THROWS_WITH(decode_image(""), Catch::Contains("empty"));
  std::string png = slurp("rgb8x6.png");
  CHECK_THROWS_WITH(decode_image(png.substr(0, 40)), Catch::Contains("PNG"));
  CHECK_THROWS_WITH(decode_image("BM\x10\x00"), Catch::Contains("not supported"));
}

TEST_CASE("model input: bilinear with half-pixel centres, mapped to [-1, 1]") {
  // A 2x1 image [0, 255] resized to 4x1 with half-pixel centres samples at
  // x = -0.25, 0.25, 0.75, 1.25 -> clamped 0, 0.25, 0.75, 1 of the way.
  Image im{2, 1, 3, {0, 0, 0, 255, 255, 255}};
  std::vector<float> chw(3 * 4 * 4);
  to_model_input(im, 4, chw.data());
  const float want[] = {-1.0f, -0.5f, 0.5f, 1.0f};
  for (int x = 0; x < 4; ++x) CHECK(chw[x] == Approx(want[x]).margin(1e-5));
  CHECK(chw[16 + 4 * 3 + 1] == Approx(-0.5f).margin(1e-5));  // channel 1, last row
}
