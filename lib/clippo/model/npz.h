// NumPy .npz archives (what big_vision's checkpoints are): read and write
// with libzip. Members may be stored or deflated, ZIP64 or not; names are
// given without their ".npy" suffix. No torch in this header.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "clippo/io/npy.h"

struct zip;

namespace clippo::model {

// One array: raw little-endian C-order data in its stored dtype.
struct NpzArray {
  DType dtype = DType::f32;
  std::vector<int64_t> shape;
  std::string data;  // count() * dtype_size(dtype) bytes

  size_t count() const;
  std::vector<float> to_floats() const;
  static NpzArray from_floats(const float* values, std::vector<int64_t> shape, DType stored = DType::f32);
};

using NpzArrays = std::map<std::string, NpzArray>;

// What an archive holds, from the member headers only (no data read).
struct NpzEntry {
  std::string name;  // without ".npy"
  DType dtype = DType::f32;
  std::vector<int64_t> shape;
  uint64_t nbytes = 0;  // data bytes
};

// Random access to the members of one archive. Errors name the file and the
// member: not a zip, a member that is not a .npy, truncated or corrupt data,
// an unsupported dtype.
class NpzReader {
 public:
  explicit NpzReader(std::string path);
  ~NpzReader();
  NpzReader(const NpzReader&) = delete;
  NpzReader& operator=(const NpzReader&) = delete;

  const std::string& path() const { return path_; }
  // Every member, in archive order (only each member's .npy header is read).
  const std::vector<NpzEntry>& entries() const { return entries_; }
  const NpzEntry* find(const std::string& name) const;
  // Reads one member (one copy of its data, nothing else held).
  NpzArray read(const std::string& name) const;

 private:
  std::string read_member(int64_t index, const std::string& name, uint64_t limit) const;
  std::string path_;
  zip* zip_ = nullptr;
  std::vector<NpzEntry> entries_;
  std::map<std::string, int64_t> index_;
};

// Reads every member that `keep` accepts (all when unset), one at a time.
NpzArrays read_npz(const std::string& path, const std::function<bool(const std::string&)>& keep = {});

// Writes the arrays as "name.npy" members (stored, or deflated when compress
// is set) to a temporary file that is fsynced and renamed onto `path`, so a
// crash never leaves a half-written checkpoint under the final name.
void write_npz(const std::string& path, const NpzArrays& arrays, bool compress = false);

}  // namespace clippo::model
