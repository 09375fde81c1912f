#include "clippo/model/npz.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <unistd.h>
#include <zip.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "clippo/cli/error.h"
#include "clippo/io/atomic_file.h"

namespace clippo::model {

size_t NpzArray::count() const {
  size_t n = 1;
  for (auto d : shape) n *= static_cast<size_t>(d);
  return n;
}

std::vector<float> NpzArray::to_floats() const {
  std::vector<float> out(count());
  to_float(dtype, data.data(), out.size(), out.data());
  return out;
}

NpzArray NpzArray::from_floats(const float* values, std::vector<int64_t> shape, DType stored) {
  NpzArray a;
  a.dtype = stored;
  a.shape = std::move(shape);
  size_t n = a.count();
  a.data.resize(n * dtype_size(stored));
  if (stored == DType::f32) {
    std::memcpy(a.data.data(), values, n * 4);
  } else if (stored == DType::f16 || stored == DType::bf16) {
    auto* out = reinterpret_cast<uint16_t*>(a.data.data());
    for (size_t i = 0; i < n; ++i) out[i] = stored == DType::f16 ? float_to_half(values[i]) : float_to_bf16(values[i]);
  } else if (stored == DType::f64) {
    auto* out = reinterpret_cast<double*>(a.data.data());
    for (size_t i = 0; i < n; ++i) out[i] = values[i];
  } else {
    throw Error("NpzArray::from_floats: store as float32, float16, bfloat16 or float64");
  }
  return a;
}

namespace {

std::string zip_error_text(int code) {
  zip_error_t e;
  zip_error_init_with_code(&e, code);
  std::string s = zip_error_strerror(&e);
  zip_error_fini(&e);
  return s;
}

uint32_t crc32(const std::string& data) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : data) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

std::string strip_npy(const std::string& name) {
  return name.size() > 4 && name.compare(name.size() - 4, 4, ".npy") == 0 ? name.substr(0, name.size() - 4) : name;
}

}  // namespace

NpzReader::NpzReader(std::string path) : path_(std::move(path)) {
  std::error_code ec;
  if (!std::filesystem::exists(path_, ec)) throw Error(path_ + ": no such file");
  if (std::filesystem::is_directory(path_, ec)) throw Error(path_ + ": is a directory, not a .npz checkpoint");
  if (!std::filesystem::is_regular_file(path_, ec))
    throw Error(path_ + ": not a regular file (a pipe?): a .npz is read by seeking in it; save it to a file first");
  int err = 0;
  zip_ = zip_open(path_.c_str(), ZIP_RDONLY, &err);
  if (!zip_) {
    if (err == ZIP_ER_NOZIP || err == ZIP_ER_INCONS)
      throw Error(fmt::format("{}: not a .npz checkpoint (not a zip archive, or a truncated one: {})", path_,
                              zip_error_text(err)));
    throw Error(fmt::format("{}: cannot open: {}", path_, zip_error_text(err)));
  }
  try {
    zip_int64_t n = zip_get_num_entries(zip_, 0);
    for (zip_int64_t i = 0; i < n; ++i) {
      const char* raw = zip_get_name(zip_, static_cast<zip_uint64_t>(i), ZIP_FL_ENC_RAW);
      if (!raw) continue;
      std::string member = raw;
      if (member.empty() || member.back() == '/') continue;  // directories
      // A .npy header fits in its first 64 KiB (numpy writes far smaller ones).
      std::string head = read_member(i, member, 1 << 16);
      std::string name = strip_npy(member);
      NpyHeader h = parse_npy_header_prefix(head, path_ + ": " + name);
      entries_.push_back({name, h.dtype, h.shape, h.nbytes()});
      index_[name] = i;
    }
  } catch (...) {
    zip_discard(zip_);  // a constructor that throws runs no destructor
    zip_ = nullptr;
    throw;
  }
}

NpzReader::~NpzReader() {
  if (zip_) zip_discard(zip_);
}

const NpzEntry* NpzReader::find(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) return nullptr;
  for (auto& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

std::string NpzReader::read_member(int64_t index, const std::string& name, uint64_t limit) const {
  zip_stat_t st;
  if (zip_stat_index(zip_, static_cast<zip_uint64_t>(index), 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
    throw Error(fmt::format("{}: {}: cannot stat member: {}", path_, name, zip_strerror(zip_)));
  uint64_t want = std::min<uint64_t>(st.size, limit);
  zip_file_t* f = zip_fopen_index(zip_, static_cast<zip_uint64_t>(index), 0);
  if (!f) throw Error(fmt::format("{}: {}: cannot open member: {}", path_, name, zip_strerror(zip_)));
  std::string out(want, '\0');
  uint64_t got = 0;
  while (got < want) {
    zip_int64_t n = zip_fread(f, out.data() + got, want - got);
    if (n < 0) {
      std::string why = zip_file_strerror(f);
      zip_fclose(f);
      throw Error(fmt::format("{}: {}: truncated or corrupt member ({})", path_, name, why));
    }
    if (n == 0) break;
    got += static_cast<uint64_t>(n);
  }
  // libzip leaves the CRC unchecked unless a read hits the end: check it
  // here, so a damaged stored or deflated member is an error, not garbage.
  if (got == want && want == st.size && (st.valid & ZIP_STAT_CRC) && crc32(out) != st.crc) {
    zip_fclose(f);
    throw Error(fmt::format("{}: {}: corrupt member (CRC mismatch)", path_, name));
  }
  zip_fclose(f);
  if (got < want) throw Error(fmt::format("{}: {}: truncated member ({} of {} bytes)", path_, name, got, want));
  return out;
}

NpzArray NpzReader::read(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) throw Error(fmt::format("{}: no array '{}'", path_, name));
  std::string bytes = read_member(it->second, name, UINT64_MAX);
  NpyHeader h = parse_npy_header(bytes, path_ + ": " + name);
  NpzArray a;
  a.dtype = h.dtype;
  a.shape = h.shape;
  bytes.erase(0, h.data_offset);  // in place: no second copy of the data
  bytes.resize(h.nbytes());
  a.data = std::move(bytes);
  return a;
}

NpzArrays read_npz(const std::string& path, const std::function<bool(const std::string&)>& keep) {
  NpzReader reader(path);
  NpzArrays out;
  for (auto& e : reader.entries())
    if (!keep || keep(e.name)) out.emplace(e.name, reader.read(e.name));
  return out;
}

void write_npz(const std::string& path, const NpzArrays& arrays, bool compress) {
  namespace fs = std::filesystem;
  const std::string target = rename_target(path);  // a symbolic link stays one
  const std::string temp = temporary_beside(target);  // libzip writes to TEMP.XXXXXX and renames it to TEMP
  std::error_code ec;
  fs::remove(temp, ec);
  int err = 0;
  zip_t* z = zip_open(temp.c_str(), ZIP_CREATE | ZIP_EXCL, &err);
  if (!z) throw Error(fmt::format("{}: cannot create: {}", temp, zip_error_text(err)));
  // libzip reads the sources at zip_close; the headers must live until then,
  // the data is referenced in place (no copy of the arrays).
  std::vector<std::string> headers;
  headers.reserve(arrays.size());
  try {
    for (auto& [name, a] : arrays) {
      if (a.data.size() != a.count() * dtype_size(a.dtype))
        throw Error(fmt::format("{}: array '{}' holds {} bytes, its shape needs {}", path, name, a.data.size(),
                                a.count() * dtype_size(a.dtype)));
      headers.push_back(make_npy_header(a.dtype, a.shape));
      zip_buffer_fragment_t frags[2] = {
          {reinterpret_cast<zip_uint8_t*>(headers.back().data()), headers.back().size()},
          {reinterpret_cast<zip_uint8_t*>(const_cast<char*>(a.data.data())), a.data.size()}};
      zip_source_t* src = zip_source_buffer_fragment(z, frags, a.data.empty() ? 1 : 2, 0);
      if (!src) throw Error(fmt::format("{}: {}: {}", path, name, zip_strerror(z)));
      zip_int64_t idx = zip_file_add(z, (name + ".npy").c_str(), src, ZIP_FL_ENC_UTF_8);
      if (idx < 0) {
        zip_source_free(src);
        throw Error(fmt::format("{}: {}: {}", path, name, zip_strerror(z)));
      }
      zip_set_file_compression(z, static_cast<zip_uint64_t>(idx), compress ? ZIP_CM_DEFLATE : ZIP_CM_STORE,
                               compress ? 6 : 0);
    }
    if (zip_close(z) != 0) throw Error(fmt::format("{}: cannot write: {}", path, zip_strerror(z)));
  } catch (...) {
    zip_discard(z);
    fs::remove(temp, ec);
    throw;
  }
  int fd = ::open(temp.c_str(), O_RDONLY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  fs::rename(temp, target, ec);
  if (ec) {
    fs::remove(temp);
    throw Error(fmt::format("{}: cannot rename into place: {}", path, ec.message()));
  }
}

}  // namespace clippo::model
