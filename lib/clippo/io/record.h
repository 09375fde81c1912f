// A webdataset record: the members of a tar that share a key.
#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace clippo {

struct Record {
  std::string key;
  // (field, bytes) in stream order; field is the member name after the key's
  // first '.', e.g. "jpg", "next.txt", "img.npy".
  std::vector<std::pair<std::string, std::string>> fields;

  const std::string* find(std::string_view field) const {
    for (auto& [f, v] : fields)
      if (f == field) return &v;
    return nullptr;
  }
  bool has(std::string_view field) const { return find(field) != nullptr; }
  // Replaces the field if present, else appends it.
  void set(std::string_view field, std::string bytes) {
    for (auto& [f, v] : fields)
      if (f == field) {
        v = std::move(bytes);
        return;
      }
    fields.emplace_back(std::string(field), std::move(bytes));
  }
  void erase(std::string_view field) {
    std::erase_if(fields, [&](auto& p) { return p.first == field; });
  }
  size_t bytes() const {
    size_t n = 0;
    for (auto& [f, v] : fields) n += v.size();
    return n;
  }
};

// The key of the optional first record that describes a stream.
inline constexpr std::string_view kHeaderKey = "__clippo__";

// Image fields in the order a reader prefers them.
inline constexpr std::string_view kImageFields[] = {"jpg", "jpeg", "png", "webp", "ppm", "pgm"};

// The record's first image field, or nullptr.
inline const std::pair<std::string, std::string>* find_image(const Record& r) {
  for (auto& f : r.fields)
    for (auto name : kImageFields)
      if (f.first == name) return &f;
  return nullptr;
}

// Splits a member path into (key, field): the key is the path up to the first
// '.' of the basename, so folders may hold dots. No dot: field is "".
std::pair<std::string, std::string> split_member_name(std::string_view path);

}  // namespace clippo
