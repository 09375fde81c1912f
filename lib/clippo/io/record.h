// A webdataset record: the members of a tar that share a key.
#pragma once
#include <cstdint>
#include <optional>
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

// A `cls` field as a class index: decimal digits, blanks around them allowed;
// nullopt for anything else (a sign, a name, an empty field, > 18 digits).
inline std::optional<int64_t> class_index(std::string_view cls) {
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!cls.empty() && blank(cls.front())) cls.remove_prefix(1);
  while (!cls.empty() && blank(cls.back())) cls.remove_suffix(1);
  if (cls.empty() || cls.size() > 18) return std::nullopt;
  int64_t v = 0;
  for (char c : cls) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

// Why a key is not one the tar writer and a file system accept (no '.' in
// its basename, no empty, '.' or '..' folders, no leading '/', no control
// bytes: a key extracted must stay a file under its folder), or "".
std::string key_fault(std::string_view key);

// Splits a member path into (key, field): the key is the path up to the first
// '.' of the basename, so folders may hold dots. No dot: field is "".
std::pair<std::string, std::string> split_member_name(std::string_view path);

}  // namespace clippo
