#include "clippo/pack/tables.h"

#include <fmt/core.h>

#include <algorithm>
#include <filesystem>

#include "clippo/io/json.h"
#include "clippo/io/paths.h"
#include "clippo/io/utf8.h"

namespace fs = std::filesystem;

namespace clippo::pack {
namespace {

std::string slurp(const std::string& path) {
  std::string text = read_whole_file(path);
  strip_utf8_bom(text);
  return text;
}

std::string resolve(const std::string& base, const std::string& p) {
  if (p.empty() || fs::path(p).is_absolute() || base.empty()) return p;
  return (fs::path(base) / p).string();
}

bool is_integer(const std::string& s) {
  size_t i = s.size() && (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i == s.size()) return false;
  for (; i < s.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  return true;
}

// Calls fn(line, number) for each line that is not blank; CRLF ends accepted.
template <typename Fn>
void for_each_line(const std::string& text, Fn fn) {
  size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") != std::string::npos) fn(std::move(line), line_no);
  }
}

}  // namespace

TableFormat table_format(const std::string& path) {
  auto ext = extension(path);
  if (ext == "csv") return TableFormat::csv;
  if (ext == "jsonl" || ext == "json" || ext == "ndjson") return TableFormat::jsonl;
  return TableFormat::tsv;
}

bool next_csv_record(const std::string& text, size_t& pos, std::vector<std::string>& out) {
  out.clear();
  if (pos >= text.size()) return false;
  std::string field;
  bool quoted = false, field_started = false;
  while (pos < text.size()) {
    char c = text[pos++];
    if (quoted) {
      if (c == '"') {
        if (pos < text.size() && text[pos] == '"') field += '"', ++pos;
        else quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"' && !field_started) {
      quoted = field_started = true;
    } else if (c == ',') {
      out.push_back(std::move(field));
      field.clear();
      field_started = false;
    } else if (c == '\n') {
      break;
    } else if (c == '\r' && pos < text.size() && text[pos] == '\n') {
      // CRLF: the LF ends the record next
    } else {
      field += c;
      field_started = true;
    }
  }
  // (RFC 4180: a quote opened must close; else the rest of the file was taken in.)
  if (quoted) throw Error("a quoted field is not closed: it runs to the end of the file");
  out.push_back(std::move(field));
  return true;
}

std::vector<Item> read_table(const std::string& path, TableFormat format, const TableFields& fields,
                             const std::string& base_dir, BadInput& bad) {
  std::string text = slurp(path);
  std::vector<Item> items;
  auto label_ok = [&](Item& item, const std::string& where) {
    if (!item.label) return true;
    if (is_integer(*item.label)) return true;
    bad.report(where, "bad label", "'" + *item.label + "' is not an integer");
    return false;
  };
  if (format == TableFormat::tsv) {
    for_each_line(text, [&](std::string line, size_t line_no) {
      std::string where = fmt::format("{}:{}", path, line_no);
      size_t tab = line.find('\t');
      if (tab == std::string::npos) {
        bad.report(where, "malformed row", "expected path<TAB>caption");
        return;
      }
      Item item;
      item.image_path = resolve(base_dir, line.substr(0, tab));
      std::string rest = line.substr(tab + 1);
      size_t tab2 = rest.find('\t');
      item.caption = rest.substr(0, tab2);
      if (tab2 != std::string::npos) item.label = rest.substr(tab2 + 1);
      item.origin = where;
      if (label_ok(item, where)) items.push_back(std::move(item));
    });
  } else if (format == TableFormat::csv) {
    size_t pos = 0, line = 1, counted = 0;  // the line a record starts on (quoted fields may span lines)
    std::vector<std::string> header, rec;
    try {
      if (!next_csv_record(text, pos, header)) throw Error("empty CSV file (a header row is needed)");
    } catch (const Error& e) {
      throw Error(fmt::format("{}: {}", path, e.what()));
    }
    auto column = [&](const std::string& name, bool required) -> int {
      for (size_t i = 0; i < header.size(); ++i)
        if (header[i] == name) return static_cast<int>(i);
      if (required) throw Error(fmt::format("{}: no column '{}' in the header row", path, name));
      return -1;
    };
    int ci = column(fields.image, true), ct = column(fields.text, true),
        cl = fields.label.empty() ? -1 : column(fields.label, true);
    for (size_t start = pos;; start = pos) {
      line += static_cast<size_t>(std::count(text.begin() + static_cast<std::ptrdiff_t>(counted),
                                             text.begin() + static_cast<std::ptrdiff_t>(start), '\n'));
      counted = start;
      try {
        if (!next_csv_record(text, pos, rec)) break;
      } catch (const Error& e) {
        bad.report(fmt::format("{}:{}", path, line), "malformed row", e.what());
        break;
      }
      if (rec.size() == 1 && rec[0].empty()) continue;  // blank line
      std::string where = fmt::format("{}:{}", path, line);
      // Too many columns is as wrong as too few: a stray comma shifts them.
      if (rec.size() != header.size()) {
        bad.report(where, "malformed row", fmt::format("{} columns, header has {}", rec.size(), header.size()));
        continue;
      }
      Item item{resolve(base_dir, rec[ci]), rec[ct], std::nullopt, "", where};
      if (cl >= 0) item.label = rec[cl];
      if (label_ok(item, where)) items.push_back(std::move(item));
    }
  } else {
    for_each_line(text, [&](std::string line, size_t line_no) {
      std::string where = fmt::format("{}:{}", path, line_no);
      JsonObject obj;
      try {
        obj = JsonObject::parse(line, where);
      } catch (const Error&) {
        bad.report(where, "malformed row", "not a JSON object");
        return;
      }
      // Path and caption are JSON strings: a number or a list is a mistake.
      for (auto& f : {fields.image, fields.text})
        if (obj.get(f) && !obj.get_string(f)) {
          bad.report(where, "malformed row", fmt::format("field '{}' is {}, not a string", f, *obj.get(f)));
          return;
        }
      auto image = obj.get_string(fields.image);
      auto caption = obj.get_string(fields.text);
      if (!image) {
        bad.report(where, "malformed row", "field '" + fields.image + "' is absent or null");
        return;
      }
      Item item{resolve(base_dir, *image), caption.value_or(""), std::nullopt, line, where};
      if (!caption) {
        bad.report(where, "missing caption", "field '" + fields.text + "' is absent or null");
        return;
      }
      if (!fields.label.empty()) item.label = obj.get(fields.label);
      if (label_ok(item, where)) items.push_back(std::move(item));
    });
  }
  return items;
}

std::vector<Item> read_sidecar_captions(const std::string& dir, BadInput& bad) {
  std::vector<Item> items;
  for (auto& image : expand_inputs({dir}, is_image_path)) {
    auto sidecar = fs::path(image).replace_extension(".txt").string();
    std::error_code ec;
    if (!fs::is_regular_file(sidecar, ec)) {
      bad.report(image, "missing caption", "no " + fs::path(sidecar).filename().string());
      continue;
    }
    std::string caption;
    try {
      caption = slurp(sidecar);
    } catch (const Error&) {  // (permissions): this image's caption alone, as for an unreadable image
      bad.report(image, "unreadable caption", std::string(fs::path(sidecar).filename().string()) + ": cannot read");
      continue;
    }
    while (!caption.empty() && (caption.back() == '\n' || caption.back() == '\r')) caption.pop_back();
    items.push_back(Item{image, std::move(caption), std::nullopt, "", sidecar});
  }
  return items;
}

}  // namespace clippo::pack
