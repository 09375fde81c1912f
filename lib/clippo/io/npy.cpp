#include "clippo/io/npy.h"

#include <fmt/core.h>

#include <cmath>
#include <cstring>
#include <charconv>
#include <regex>

#include "clippo/cli/error.h"

namespace clippo {

std::string dtype_descr(DType t) {
  switch (t) {
    case DType::f32: return "<f4";
    case DType::f16: return "<f2";
    case DType::bf16: return "|V2";  // numpy writes 2-byte voids so
    case DType::f64: return "<f8";
    case DType::i32: return "<i4";
    case DType::i64: return "<i8";
    case DType::u8: return "|u1";
    case DType::bool_: return "|b1";
  }
  return "?";
}

size_t dtype_size(DType t) {
  switch (t) {
    case DType::f16: case DType::bf16: return 2;
    case DType::f32: case DType::i32: return 4;
    case DType::f64: case DType::i64: return 8;
    case DType::u8: case DType::bool_: return 1;
  }
  return 0;
}

size_t NpyHeader::count() const {
  size_t n = 1;
  for (auto d : shape) n *= static_cast<size_t>(d);
  return n;
}

NpyHeader parse_npy_header(std::string_view npy, const std::string& where) {
  NpyHeader h = parse_npy_header_prefix(npy, where);
  if (npy.size() < h.data_offset + h.nbytes())
    throw Error(fmt::format("{}: truncated array: {} bytes of data, shape needs {}", where, npy.size() - h.data_offset,
                            h.nbytes()));
  return h;
}

NpyHeader parse_npy_header_prefix(std::string_view npy, const std::string& where) {
  if (npy.size() < 10 || npy.substr(0, 6) != "\x93NUMPY") throw Error(where + ": not a .npy array (bad magic)");
  int major = static_cast<unsigned char>(npy[6]);
  size_t len, start;
  if (major == 1) {
    len = static_cast<unsigned char>(npy[8]) | static_cast<unsigned char>(npy[9]) << 8;
    start = 10;
  } else if (major == 2 || major == 3) {
    if (npy.size() < 12) throw Error(where + ": truncated .npy header");
    len = 0;
    for (int i = 0; i < 4; ++i) len |= static_cast<size_t>(static_cast<unsigned char>(npy[8 + i])) << (8 * i);
    start = 12;
  } else {
    throw Error(fmt::format("{}: unsupported .npy version {}", where, major));
  }
  if (npy.size() < start + len) throw Error(where + ": truncated .npy header");
  std::string dict(npy.substr(start, len));
  static const std::regex descr_re(R"('descr'\s*:\s*'([^']*)')"), fortran_re(R"('fortran_order'\s*:\s*(True|False))"),
      shape_re(R"('shape'\s*:\s*\(([^)]*)\))");
  std::smatch m;
  NpyHeader h;
  if (!std::regex_search(dict, m, descr_re)) throw Error(where + ": .npy header has no descr");
  std::string d = m[1];
  if (d == "<f4") h.dtype = DType::f32;
  else if (d == "<f2") h.dtype = DType::f16;
  else if (d == "<V2" || d == "|V2" || d == "bfloat16") h.dtype = DType::bf16;
  else if (d == "<f8") h.dtype = DType::f64;
  else if (d == "<i4") h.dtype = DType::i32;
  else if (d == "<i8") h.dtype = DType::i64;
  else if (d == "|u1") h.dtype = DType::u8;
  else if (d == "|b1") h.dtype = DType::bool_;
  else throw Error(fmt::format("{}: unsupported dtype '{}' (want float32, float16, bfloat16, float64 or integers)", where, d));
  if (std::regex_search(dict, m, fortran_re) && m[1] == "True")
    throw Error(where + ": Fortran-order arrays are not supported (save with C order)");
  if (!std::regex_search(dict, m, shape_re)) throw Error(where + ": .npy header has no shape");
  std::string dims = m[1];
  for (size_t p = 0; p < dims.size();) {
    while (p < dims.size() && (dims[p] == ' ' || dims[p] == ',')) ++p;
    if (p >= dims.size()) break;
    size_t q = p;
    while (q < dims.size() && std::isdigit(static_cast<unsigned char>(dims[q]))) ++q;
    int64_t dim = 0;
    if (q == p || std::from_chars(dims.data() + p, dims.data() + q, dim).ec != std::errc())
      throw Error(fmt::format("{}: bad shape ({}) in .npy header", where, dims));
    h.shape.push_back(dim);
    p = q;
  }
  // Sizes computed from the shape later must not wrap around.
  uint64_t bytes = dtype_size(h.dtype);
  for (auto dim : h.shape)
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(dim), &bytes) || bytes > (uint64_t{1} << 56))
      throw Error(fmt::format("{}: shape ({}) in .npy header is too large", where, dims));
  h.data_offset = start + len;
  return h;
}

uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  int32_t exp = static_cast<int32_t>((x >> 23) & 0xff) - 127 + 15;
  uint32_t mant = x & 0x7fffff;
  if (((x >> 23) & 0xff) == 0xff) return static_cast<uint16_t>(sign | 0x7c00 | (mant ? 0x200 : 0));  // inf/nan
  if (exp >= 31) return static_cast<uint16_t>(sign | 0x7c00);                                    // overflow
  if (exp <= 0) {                                                                                 // subnormal
    if (exp < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000;
    uint32_t shift = static_cast<uint32_t>(14 - exp);
    uint32_t h = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  uint32_t h = (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) ++h;  // may carry into the exponent: still right
  return static_cast<uint16_t>(sign | h);
}

float half_to_float(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  uint32_t x;
  if (exp == 0) {
    if (mant == 0) x = sign;
    else {
      float f = std::ldexp(static_cast<float>(mant), -24);
      return sign ? -f : f;
    }
  } else if (exp == 31) {
    x = sign | 0x7f800000 | (mant << 13);
  } else {
    x = sign | ((exp + 112) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

uint16_t float_to_bf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffff) > 0x7f800000) return static_cast<uint16_t>((x >> 16) | 0x40);  // quiet nan
  x += 0x7fff + ((x >> 16) & 1);
  return static_cast<uint16_t>(x >> 16);
}

void to_float(DType t, const void* data, size_t count, float* out) {
  auto* b = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < count; ++i) {
    switch (t) {
      case DType::f32: std::memcpy(&out[i], b + 4 * i, 4); break;
      case DType::f16: { uint16_t h; std::memcpy(&h, b + 2 * i, 2); out[i] = half_to_float(h); break; }
      case DType::bf16: { uint16_t h; std::memcpy(&h, b + 2 * i, 2); out[i] = bf16_to_float(h); break; }
      case DType::f64: { double d; std::memcpy(&d, b + 8 * i, 8); out[i] = static_cast<float>(d); break; }
      case DType::i32: { int32_t v; std::memcpy(&v, b + 4 * i, 4); out[i] = static_cast<float>(v); break; }
      case DType::i64: { int64_t v; std::memcpy(&v, b + 8 * i, 8); out[i] = static_cast<float>(v); break; }
      case DType::u8: case DType::bool_: out[i] = b[i]; break;
    }
  }
}

std::vector<float> npy_to_floats(std::string_view npy, const std::string& where, NpyHeader* header) {
  NpyHeader h = parse_npy_header(npy, where);
  std::vector<float> out(h.count());
  to_float(h.dtype, npy.data() + h.data_offset, out.size(), out.data());
  if (header) *header = h;
  return out;
}

std::string make_npy(DType dtype, const std::vector<int64_t>& shape, const void* data) {
  std::string out = make_npy_header(dtype, shape);
  NpyHeader h;
  h.dtype = dtype;
  h.shape = shape;
  out.append(static_cast<const char*>(data), h.nbytes());
  return out;
}

std::string make_npy_header(DType dtype, const std::vector<int64_t>& shape, size_t size) {
  std::string dims;
  for (auto d : shape) dims += std::to_string(d) + ", ";
  if (shape.size() > 1) dims.erase(dims.size() - 2);
  else if (shape.size() == 1) dims.erase(dims.size() - 1);  // "(7,)"
  std::string dict = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}), }}", dtype_descr(dtype), dims);
  const size_t total = 10 + dict.size() + 1;
  if (size && (size < total || size % 64 != 0 || size - 10 > 0xffff))
    throw Error(fmt::format(".npy header of shape ({}) does not fit {} bytes", dims, size));
  dict.append(size ? size - total : (64 - total % 64) % 64, ' ');
  dict += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(dict.size() & 0xff);
  out += static_cast<char>(dict.size() >> 8);
  out += dict;
  return out;
}

std::string make_npy_from_floats(const float* data, const std::vector<int64_t>& shape, DType stored) {
  NpyHeader h;
  h.shape = shape;
  size_t n = h.count();
  if (stored == DType::f32) return make_npy(stored, shape, data);
  std::vector<uint16_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = stored == DType::f16 ? float_to_half(data[i]) : float_to_bf16(data[i]);
  if (stored != DType::f16 && stored != DType::bf16) throw Error("make_npy_from_floats: store as f32, f16 or bf16");
  return make_npy(stored, shape, v.data());
}

}  // namespace clippo
