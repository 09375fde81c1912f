// NumPy .npy arrays: the embedding fields of shards (img.npy, txt.npy) and
// the members of .npz checkpoints. Versions 1-3, little-endian, C order.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace clippo {

enum class DType { f32, f16, bf16, f64, i32, i64, u8, bool_ };

// numpy's descr: "<f4", "<f2", "|V2" (how numpy stores bfloat16), "<f8", ...
std::string dtype_descr(DType t);
size_t dtype_size(DType t);

struct NpyHeader {
  DType dtype = DType::f32;
  std::vector<int64_t> shape;
  size_t data_offset = 0;  // bytes from the start of the .npy to the data
  size_t count() const;    // number of elements
  size_t nbytes() const { return count() * dtype_size(dtype); }
};

// Parses the header; `where` names the array in errors (file and member).
// Throws Error for a bad magic, a Fortran-order or big-endian array, an
// unsupported dtype, or data shorter than the shape needs.
NpyHeader parse_npy_header(std::string_view npy, const std::string& where);
// The same checks on a prefix that holds at least the header, without
// requiring the data (for listing the members of a .npz without reading them).
NpyHeader parse_npy_header_prefix(std::string_view head, const std::string& where);

// Converts `count` elements of raw little-endian data to float.
void to_float(DType t, const void* data, size_t count, float* out);

// The whole array as float (f32, f16, bf16, f64, integers).
std::vector<float> npy_to_floats(std::string_view npy, const std::string& where, NpyHeader* header = nullptr);

// Serialises a C-order array (version 1 header, 64-byte aligned as numpy).
// `data` holds count(shape) elements of `dtype` already.
std::string make_npy(DType dtype, const std::vector<int64_t>& shape, const void* data);
// The header alone (magic, version, padded dict), for writers that stream the
// data; padded to `size` bytes when given (a multiple of 64), so that a
// streamed file's header can be rewritten in place with its final shape.
std::string make_npy_header(DType dtype, const std::vector<int64_t>& shape, size_t size = 0);
// Float data stored as f32, f16 or bf16 (round to nearest even).
std::string make_npy_from_floats(const float* data, const std::vector<int64_t>& shape, DType stored = DType::f32);

uint16_t float_to_half(float f);
float half_to_float(uint16_t h);
uint16_t float_to_bf16(float f);
inline float bf16_to_float(uint16_t b) {
  uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}

}  // namespace clippo
