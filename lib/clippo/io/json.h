// JSON: a small streaming writer (for JSONL output, headers, sizes.json) and
// reading helpers on top of simdjson's DOM parser.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace clippo {

class JsonWriter {
 public:
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view k);
  JsonWriter& value(std::string_view v);
  JsonWriter& value(const char* v) { return value(std::string_view(v)); }
  JsonWriter& value(const std::string& v) { return value(std::string_view(v)); }
  JsonWriter& value(double v);
  JsonWriter& value(int64_t v);
  JsonWriter& value(uint64_t v);
  JsonWriter& value(int v) { return value(static_cast<int64_t>(v)); }
  JsonWriter& value(bool v);
  JsonWriter& null();
  // Inserts already-serialised JSON as a value.
  JsonWriter& raw(std::string_view json);
  const std::string& str() const { return out_; }

 private:
  void comma();
  std::string out_;
  std::vector<bool> first_;  // per open container: no element yet
  bool after_key_ = false;
};

// Appends s as a quoted JSON string (UTF-8 passes through; controls escaped).
void append_json_string(std::string& out, std::string_view s);

// A parsed JSON object, reduced to what the tools read: top-level fields as
// strings (numbers and nested values keep their JSON text).
class JsonObject {
 public:
  JsonObject();
  ~JsonObject();
  JsonObject(JsonObject&&) noexcept;
  JsonObject& operator=(JsonObject&&) noexcept;
  // Throws Error naming `where` when text is not a JSON object.
  static JsonObject parse(std::string_view text, const std::string& where);
  // The field's value: strings unquoted, other values as JSON text.
  std::optional<std::string> get(std::string_view field) const;
  // The top-level field names, in document order.
  std::vector<std::string> keys() const;
  // Typed top-level fields: nullopt when missing or of another type
  // (integers read as numbers; get_integer: exactly, none past int64, and
  // whole numbers written as doubles up to 2^53).
  std::optional<std::string> get_string(std::string_view field) const;
  std::optional<double> get_number(std::string_view field) const;
  std::optional<int64_t> get_integer(std::string_view field) const;
  std::optional<bool> get_bool(std::string_view field) const;
  // A dotted path into nested objects ("model.variant").
  std::optional<std::string> get_path(std::string_view path) const;
  // A dotted path to an array of strings (escapes decoded); nullopt when
  // missing or not an array of strings.
  std::optional<std::vector<std::string>> get_strings(std::string_view path) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace clippo
