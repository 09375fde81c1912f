#include "clippo/text/prompts.h"

#include <fmt/core.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

#include "clippo/cli/error.h"
#include "clippo/cli/log.h"

namespace fs = std::filesystem;

namespace clippo::text {

namespace {

std::vector<std::string> data_roots() {
  std::vector<std::string> roots;
  if (const char* e = std::getenv("CLIPPO_DATA")) roots.push_back(e);
#ifdef CLIPPO_DATADIR
  roots.push_back(CLIPPO_DATADIR);
#endif
#ifdef CLIPPO_SOURCE_DATADIR
  roots.push_back(CLIPPO_SOURCE_DATADIR);
#endif
  return roots;
}

// A bare name that is no file here names a bundled file in `folder`.
std::string bundled_or_path(const std::string& name, const std::string& folder) {
  if (name.find('/') != std::string::npos || name == "-" || fs::exists(name)) return name;
  try {
    return find_data_file(folder + "/" + name + ".txt");
  } catch (const Error&) {
    std::set<std::string> bundled;  // what the first root with the folder holds
    for (auto& r : data_roots()) {
      std::error_code ec;
      for (auto& e : fs::directory_iterator(fs::path(r) / folder, ec))
        if (e.path().extension() == ".txt") bundled.insert(e.path().stem().string());
      if (!bundled.empty()) break;
    }
    if (bundled.empty()) throw;  // an installation without its data: that message says where it looked
    throw Error(fmt::format("{}: no such file, and no bundled {} of that name ({})", name,
                            folder == "classes" ? "class list" : "prompt set", fmt::join(bundled, ", ")));
  }
}

}  // namespace

std::string find_data_file(const std::string& rel) {
  const auto roots = data_roots();
  for (auto& r : roots)
    if (fs::exists(fs::path(r) / rel)) return (fs::path(r) / rel).string();
  throw Error(fmt::format("bundled file {} not found (looked in {}; set CLIPPO_DATA to the share/clippo folder)", rel,
                          fmt::join(roots, ", ")));
}

namespace {

// Every line (a CRLF's CR stripped), blank ones too.
std::vector<std::string> read_lines(const std::string& path, const std::string& what) {
  std::ifstream file;
  if (path != "-") {
    if (std::error_code ec; fs::is_directory(path, ec))
      throw Error(fmt::format("{}: a folder, not a {} file", path, what));
    file.open(path);
    if (!file) throw Error(fmt::format("{}: cannot read the {} file", path, what));
  }
  std::istream& in = path == "-" ? std::cin : file;
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    out.push_back(line);
  }
  return out;
}

bool blank(const std::string& s) { return s.find_first_not_of(" \t") == std::string::npos; }

}  // namespace

std::vector<std::string> load_lines(const std::string& path, const std::string& what) {
  auto out = read_lines(path, what);
  std::erase_if(out, [](const std::string& l) { return l.empty(); });
  if (out.empty()) throw Error(fmt::format("{}: no {} in the file", path, what));
  return out;
}

std::vector<std::string> load_templates(const std::string& name) {
  std::string path = bundled_or_path(name, "prompts");
  auto t = load_lines(path, "prompt templates");
  for (size_t i = 0; i < t.size(); ++i)
    if (t[i].find("{}") == std::string::npos)
      throw Error(fmt::format("{}:{}: template '{}' has no {{}} for the class name", path, i + 1, t[i]));
  return t;
}

std::vector<std::string> load_classes(const std::string& name) {
  // Class i is line i: a blank line inside the list would shift every later
  // class, so it is an error (blank lines at the end are not).
  const std::string path = bundled_or_path(name, "classes");
  auto lines = read_lines(path, "class names");
  while (!lines.empty() && blank(lines.back())) lines.pop_back();
  if (lines.empty()) throw Error(fmt::format("{}: no class names in the file", path));
  for (size_t i = 0; i < lines.size(); ++i)
    if (blank(lines[i]))
      throw Error(fmt::format("{}:{}: a blank class name (class indexes are line numbers)", path, i + 1));
  // Classes of one name render alike, so the first wins every tie: said for
  // a list of the user's. (The bundled ImageNet list repeats two, as the
  // dataset does.)
  if (path == name) {
    std::map<std::string, int> count;
    for (const auto& n : lines) ++count[n];
    std::vector<std::string> repeated;
    for (const auto& [n, c] : count)
      if (c > 1) repeated.push_back(fmt::format("'{}' x{}", n, c));
    if (!repeated.empty())
      log::warn("{}: {} class name(s) repeat ({}{}): zero-shot cannot tell those classes apart", path,
                repeated.size(), fmt::join(repeated.begin(), repeated.begin() + std::min<size_t>(repeated.size(), 5), ", "),
                repeated.size() > 5 ? ", ..." : "");
  }
  return lines;
}

std::vector<std::string> fill_templates(const std::vector<std::string>& classes,
                                        const std::vector<std::string>& templates) {
  std::vector<std::string> out;
  out.reserve(classes.size() * templates.size());
  for (auto& c : classes)
    for (auto& t : templates) {
      std::string s;
      for (size_t i = 0; i < t.size(); ++i) {
        if (t.compare(i, 2, "{}") == 0) s += c, ++i;
        else s += t[i];
      }
      out.push_back(std::move(s));
    }
  return out;
}

}  // namespace clippo::text
