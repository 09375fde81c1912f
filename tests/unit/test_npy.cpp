#include <catch2/catch.hpp>
#include <fstream>

#include "clippo/cli/error.h"
#include "clippo/io/npy.h"

using namespace clippo;

namespace {
std::string slurp(const std::string& name) {
  std::ifstream f(std::string(CLIPPO_TEST_DATA) + "/npy/" + name, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}
const std::vector<float> kValues = {0.5f, -1.25f, 3.0f, 1e-3f, 65504.0f, -0.0f};
}  // namespace

TEST_CASE("numpy-written arrays read back: float32, float16, bfloat16 (<V2), float64") {
  NpyHeader h;
  CHECK(npy_to_floats(slurp("f4.npy"), "f4", &h) == kValues);
  CHECK(h.shape == std::vector<int64_t>{2, 3});
  auto f2 = npy_to_floats(slurp("f2.npy"), "f2", &h);
  CHECK(h.dtype == DType::f16);
  for (size_t i = 0; i < 6; ++i) CHECK(f2[i] == Approx(kValues[i]).epsilon(1e-3).margin(1e-6));
  auto bf = npy_to_floats(slurp("bf16.npy"), "bf", &h);
  CHECK(h.dtype == DType::bf16);
  for (size_t i = 0; i < 6; ++i) CHECK(bf[i] == Approx(kValues[i]).epsilon(1e-2).margin(1e-5));
  CHECK(npy_to_floats(slurp("f8_1d.npy"), "f8", &h) == std::vector<float>{0, 0.25f, 0.5f, 0.75f, 1.0f});
  CHECK(h.shape == std::vector<int64_t>{5});
}

TEST_CASE("our .npy bytes equal numpy's for the same array") {
  CHECK(make_npy_from_floats(kValues.data(), {2, 3}) == slurp("f4.npy"));
  CHECK(make_npy_from_floats(kValues.data(), {2, 3}, DType::f16) == slurp("f2.npy"));
}

TEST_CASE("a fixed-size header: the same bytes for a small and a huge shape, read back as given") {
  const std::string small = make_npy_header(DType::f16, {0, 768}, 128);
  const std::string huge = make_npy_header(DType::f16, {999999999999, 768}, 128);
  CHECK(small.size() == 128);
  CHECK(huge.size() == 128);
  CHECK(small.back() == '\n');
  NpyHeader h = parse_npy_header_prefix(huge, "huge");
  CHECK(h.shape == std::vector<int64_t>{999999999999, 768});
  CHECK(h.dtype == DType::f16);
  CHECK(h.data_offset == 128);
  // numpy's own padding for what fits.
  CHECK(make_npy_header(DType::f32, {2, 3}, 128) == make_npy_header(DType::f32, {2, 3}));
  CHECK_THROWS_WITH(make_npy_header(DType::f32, {2, 3}, 32), Catch::Contains("does not fit 32 bytes"));
}

TEST_CASE("bad arrays give errors naming them") {
  CHECK_THROWS_WITH(parse_npy_header(slurp("fortran.npy"), "x.npz/a"), Catch::Contains("x.npz/a") && Catch::Contains("Fortran"));
  auto cut = slurp("f4.npy");
  cut.resize(cut.size() - 4);
  CHECK_THROWS_WITH(parse_npy_header(cut, "m"), Catch::Contains("truncated"));
  CHECK_THROWS_WITH(parse_npy_header("garbage-bytes", "g"), Catch::Contains("not a .npy"));
  // A shape whose byte count wraps around to a small number, and one past int64.
  auto with_shape = [](const std::string& shape) {
    std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + shape + "), }";
    dict.resize(117, ' ');
    dict += '\n';
    return std::string("\x93NUMPY\x01\x00\x76\x00", 10) + dict;
  };
  CHECK_THROWS_WITH(parse_npy_header(with_shape("4, 4611686018427387904"), "w"),
                    Catch::Contains("w:") && Catch::Contains("too large"));
  CHECK_THROWS_WITH(parse_npy_header(with_shape("99999999999999999999"), "o"),
                    Catch::Contains("o:") && Catch::Contains("bad shape"));
  CHECK(parse_npy_header(with_shape("0, 3"), "e").shape == std::vector<int64_t>{0, 3});
}

TEST_CASE("half and bfloat16 conversions round to nearest even") {
  CHECK(float_to_half(1.0f) == 0x3c00);
  CHECK(float_to_half(65520.0f) == 0x7c00);  // rounds to inf, as numpy
  CHECK(half_to_float(0x0001) == Approx(5.960464477539063e-08));
  CHECK(float_to_bf16(1.0f + 1.0f / 256) == 0x3f80);  // tie -> even
  CHECK(float_to_bf16(1.0f + 3.0f / 256) == 0x3f82);
}
