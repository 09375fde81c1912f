#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>

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
