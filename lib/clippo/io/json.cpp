#include "clippo/io/json.h"

#include <fmt/core.h>
#include <simdjson.h>

#include <cmath>

#include "clippo/cli/error.h"
#include "clippo/io/utf8.h"

namespace clippo {

// Invalid UTF-8 (a caption's stray Latin-1 byte) becomes U+FFFD, so the
// output stays valid JSON.
void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = utf8_sequence_length(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    if (n > 1) {
      out.append(s, i, n);
      i += n;
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) out += fmt::format("\\u{:04x}", c);
        else out += static_cast<char>(c);
    }
    ++i;
  }
  out += '"';
}

void JsonWriter::comma() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_.empty()) {
    if (!first_.back()) out_ += ',';
    first_.back() = false;
  }
}

JsonWriter& JsonWriter::begin_object() {
  comma();
  out_ += '{';
  first_.push_back(true);
  return *this;
}
JsonWriter& JsonWriter::end_object() {
  out_ += '}';
  first_.pop_back();
  return *this;
}
JsonWriter& JsonWriter::begin_array() {
  comma();
  out_ += '[';
  first_.push_back(true);
  return *this;
}
JsonWriter& JsonWriter::end_array() {
  out_ += ']';
  first_.pop_back();
  return *this;
}
JsonWriter& JsonWriter::key(std::string_view k) {
  comma();
  append_json_string(out_, k);
  out_ += ':';
  after_key_ = true;
  return *this;
}
JsonWriter& JsonWriter::value(std::string_view v) {
  comma();
  append_json_string(out_, v);
  return *this;
}
JsonWriter& JsonWriter::value(double v) {
  comma();
  out_ += std::isfinite(v) ? fmt::format("{}", v) : "null";
  return *this;
}
JsonWriter& JsonWriter::value(int64_t v) {
  comma();
  out_ += std::to_string(v);
  return *this;
}
JsonWriter& JsonWriter::value(uint64_t v) {
  comma();
  out_ += std::to_string(v);
  return *this;
}
JsonWriter& JsonWriter::value(bool v) {
  comma();
  out_ += v ? "true" : "false";
  return *this;
}
JsonWriter& JsonWriter::null() {
  comma();
  out_ += "null";
  return *this;
}
JsonWriter& JsonWriter::raw(std::string_view json) {
  comma();
  out_ += json;
  return *this;
}

struct JsonObject::Impl {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
};

JsonObject::JsonObject() = default;
JsonObject::~JsonObject() = default;
JsonObject::JsonObject(JsonObject&&) noexcept = default;
JsonObject& JsonObject::operator=(JsonObject&&) noexcept = default;

JsonObject JsonObject::parse(std::string_view text, const std::string& where) {
  JsonObject o;
  o.impl_ = std::make_unique<Impl>();
  if (auto err = o.impl_->parser.parse(text.data(), text.size()).get(o.impl_->root))
    throw Error(where + ": invalid JSON: " + simdjson::error_message(err));
  if (!o.impl_->root.is_object()) throw Error(where + ": expected a JSON object");
  return o;
}

namespace {
std::optional<std::string> as_text(simdjson::dom::element e) {
  std::string_view sv;
  if (!e.get_string().get(sv)) return std::string(sv);
  if (e.is_null()) return std::nullopt;
  return simdjson::minify(e);
}
}  // namespace

std::optional<std::string> JsonObject::get(std::string_view field) const {
  // A field name may itself hold dots ("next.txt"): looked up whole.
  simdjson::dom::element e;
  if (!impl_ || impl_->root.get_object()[field].get(e)) return std::nullopt;
  return as_text(e);
}

std::vector<std::string> JsonObject::keys() const {
  std::vector<std::string> out;
  if (!impl_) return out;
  for (auto field : impl_->root.get_object()) out.emplace_back(field.key);
  return out;
}

std::optional<std::string> JsonObject::get_string(std::string_view field) const {
  std::string_view v;
  if (!impl_ || impl_->root.get_object()[field].get_string().get(v)) return std::nullopt;
  return std::string(v);
}

std::optional<double> JsonObject::get_number(std::string_view field) const {
  double v;
  if (!impl_ || impl_->root.get_object()[field].get_double().get(v)) return std::nullopt;
  return v;
}

std::optional<int64_t> JsonObject::get_integer(std::string_view field) const {
  if (!impl_) return std::nullopt;
  const auto value = impl_->root.get_object()[field];
  int64_t v;
  if (!value.get_int64().get(v)) return v;
  // 2.0 or 1e4, as a hand edit may write one: whole and exact in a double.
  double d;
  if (!value.get_double().get(d) && d == std::floor(d) && std::fabs(d) <= 0x1p53) return static_cast<int64_t>(d);
  return std::nullopt;
}

std::optional<bool> JsonObject::get_bool(std::string_view field) const {
  bool v;
  if (!impl_ || impl_->root.get_object()[field].get_bool().get(v)) return std::nullopt;
  return v;
}

namespace {
bool find_path(simdjson::dom::element root, std::string_view path, simdjson::dom::element& e) {
  e = root;
  size_t start = 0;
  for (;;) {
    size_t dot = path.find('.', start);
    auto part = path.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (e.get_object()[part].get(e)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}
}  // namespace

std::optional<std::string> JsonObject::get_path(std::string_view path) const {
  simdjson::dom::element e;
  if (!impl_ || !find_path(impl_->root, path, e)) return std::nullopt;
  return as_text(e);
}

std::optional<std::vector<std::string>> JsonObject::get_strings(std::string_view path) const {
  simdjson::dom::element e;
  simdjson::dom::array arr;
  if (!impl_ || !find_path(impl_->root, path, e) || e.get_array().get(arr)) return std::nullopt;
  std::vector<std::string> out;
  for (auto item : arr) {
    std::string_view sv;
    if (item.get_string().get(sv)) return std::nullopt;
    out.emplace_back(sv);
  }
  return out;
}

}  // namespace clippo
