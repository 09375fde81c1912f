#include "clippo/io/paths.h"

#include <fmt/format.h>
#include <glob.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <regex>
#include <set>

#include "clippo/cli/error.h"
#include "clippo/cli/log.h"
#include "clippo/io/record.h"

namespace fs = std::filesystem;

namespace clippo {

namespace {
// What a directory's shards are named (bzip2 and xz shards are read when named).
constexpr std::array<std::string_view, 7> kShardEndings = {".shard",    ".tar",      ".tar.gz", ".tgz",
                                                           ".tar.zst", ".tar.zstd", ".tzst"};
}  // namespace

std::string key_fault(std::string_view k) {
  if (k.empty()) return "empty";
  if (k.size() > 1024) return "longer than 1024 bytes";
  if (k.front() == '/' || k.back() == '/') return "starts or ends with '/'";
  for (char c : k)
    if (static_cast<unsigned char>(c) < 0x20) return "holds a control character";
  size_t slash = k.rfind('/');
  if (k.find('.', slash == std::string_view::npos ? 0 : slash) != std::string_view::npos)
    return "a '.' in its last part (it would start the field name)";
  size_t start = 0;
  while (start < k.size()) {
    size_t end = k.find('/', start);
    if (end == std::string_view::npos) end = k.size();
    auto seg = k.substr(start, end - start);
    if (seg.empty() || seg == "." || seg == "..") return "an empty, '.' or '..' folder";
    start = end + 1;
  }
  return "";
}

std::pair<std::string, std::string> split_member_name(std::string_view path) {
  size_t slash = path.rfind('/');
  size_t base = slash == std::string_view::npos ? 0 : slash + 1;
  size_t dot = path.find('.', base);
  if (dot == std::string_view::npos) return {std::string(path), ""};
  return {std::string(path.substr(0, dot)), std::string(path.substr(dot + 1))};
}

std::vector<std::string> expand_braces(const std::string& pattern) {
  size_t open = pattern.find('{');
  if (open == std::string::npos) return {pattern};
  size_t close = pattern.find('}', open);
  if (close == std::string::npos) throw UsageError("unbalanced '{' in pattern '" + pattern + "'");
  std::string body = pattern.substr(open + 1, close - open - 1);
  std::string head = pattern.substr(0, open), tail = pattern.substr(close + 1);
  std::vector<std::string> items;
  static const std::regex range(R"((\d+)\.\.(\d+))");
  std::smatch m;
  if (std::regex_match(body, m, range)) {
    const std::string &lo_s = m[1].str(), &hi_s = m[2].str();
    if (lo_s.size() > 18 || hi_s.size() > 18) throw UsageError("range {" + body + "} is too large");
    uint64_t lo = std::stoull(lo_s), hi = std::stoull(hi_s);
    if (hi < lo) throw UsageError("empty range {" + body + "} in pattern '" + pattern + "'");
    if (hi - lo > 10'000'000) throw UsageError("range {" + body + "} is too large");
    // Zero padding as the bounds are written: {000..099} -> 000, 001, ...
    size_t width = (lo_s.size() > 1 && lo_s[0] == '0') || (hi_s.size() > 1 && hi_s[0] == '0')
                       ? std::max(lo_s.size(), hi_s.size())
                       : 0;
    for (uint64_t i = lo; i <= hi; ++i) items.push_back(fmt::format("{:0{}}", i, width));
  } else if (body.find(',') != std::string::npos) {
    size_t start = 0;
    for (size_t comma; (comma = body.find(',', start)) != std::string::npos; start = comma + 1)
      items.push_back(body.substr(start, comma - start));
    items.push_back(body.substr(start));
  } else {
    throw UsageError("pattern '" + pattern + "': braces need a range {000..099} or a list {a,b}");
  }
  // The first group varies slowest, as in the shell.
  auto tails = expand_braces(tail);
  std::vector<std::string> ordered;
  for (auto& item : items)
    for (auto& rest : tails) ordered.push_back(head + item + rest);
  return ordered;
}

namespace {

// The files under a directory that `accept` takes, sorted. Linked
// directories are followed once each (a link back up is a loop, skipped
// with a warning); broken links and images in formats not read are reported.
std::vector<std::string> list_directory(const std::string& path, bool (*accept)(const std::string&)) {
  std::vector<std::string> found;
  std::set<std::pair<dev_t, ino_t>> dirs;
  auto first_visit = [&](const fs::path& dir) {
    struct stat st;
    return ::stat(dir.c_str(), &st) != 0 || dirs.insert({st.st_dev, st.st_ino}).second;
  };
  first_visit(path);
  std::map<std::string, int> unread;  // extension -> count, for images clippo does not decode
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(path, fs::directory_options::follow_directory_symlink, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code e;
    const std::string p = it->path().string();
    if (it->is_directory(e)) {
      if (!first_visit(it->path())) {
        log::warn("{}: a directory already listed (a link loop?), not entered", p);
        it.disable_recursion_pending();
      }
    } else if (it->is_symlink(e) && !fs::exists(it->path(), e)) {
      log::warn("{}: a broken link, skipped", p);
    } else if (it->is_regular_file(e)) {
      if (!accept || accept(p)) found.push_back(p);
      else if (accept == is_image_path && is_unread_image_path(p)) ++unread[extension(p)];
    }
  }
  if (ec) throw Error(path + ": " + ec.message());
  for (auto& [ext, n] : unread)
    log::warn("{}: {} .{} file(s) skipped (clippo reads JPEG, PNG, WebP, PPM and PGM images)", path, n, ext);
  if (found.empty())
    throw Error(fmt::format("{}: a directory with no {} in it", path,
                            accept == is_image_path   ? "images"
                            : accept == is_shard_path ? fmt::format("shards ({})", fmt::join(kShardEndings, ", "))
                                                      : "files"));
  std::sort(found.begin(), found.end());
  return found;
}

// A quoted glob ('train-*.shard', as scripts and launchers pass it): its
// matches, sorted; none is an error. Other names as they are.
std::vector<std::string> expand_glob(const std::string& path) {
  std::error_code ec;
  if (path.find_first_of("*?[") == std::string::npos || fs::exists(path, ec)) return {path};
  glob_t g{};
  const int rc = ::glob(path.c_str(), 0, nullptr, &g);
  std::vector<std::string> out(g.gl_pathv, g.gl_pathv + (rc == 0 ? g.gl_pathc : 0));
  ::globfree(&g);
  if (out.empty()) throw Error(path + ": no file matches this pattern");
  return out;
}

}  // namespace

std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs,
                                       bool (*accept)(const std::string&)) {
  std::vector<std::string> out;
  for (auto& input : inputs) {
    if (input == "-") {
      out.push_back(input);
      continue;
    }
    if (input.empty()) throw Error("'': an empty name names no file");
    // A name that exists is taken as it is, braces and all ('set{1}.shard').
    std::error_code exists_ec;
    const bool literal = input.find('{') != std::string::npos && fs::exists(input, exists_ec);
    std::vector<std::string> paths;
    for (auto& p : literal ? std::vector<std::string>{input} : expand_braces(input))
      for (auto& m : expand_glob(p)) paths.push_back(m);
    for (auto& path : paths) {
      std::error_code ec;
      auto st = fs::status(path, ec);
      if (ec || !fs::exists(st)) throw Error(path + ": no such file or directory");
      if (fs::is_directory(st)) {
        auto found = list_directory(path, accept);
        out.insert(out.end(), found.begin(), found.end());
      } else {
        out.push_back(path);
      }
    }
  }
  return out;
}

OutputPattern::OutputPattern(std::string pattern) : pattern_(std::move(pattern)) {
  if (pattern_.find('{') != std::string::npos) {
    fixed_ = expand_braces(pattern_);
  } else if (pattern_.find('%') != std::string::npos) {
    static const std::regex printf_int(R"(^[^%]*%0?\d*d[^%]*$)");
    if (!std::regex_match(pattern_, printf_int))
      throw UsageError("output pattern '" + pattern_ + "' needs exactly one %d conversion such as %05d");
  } else {
    fixed_ = {pattern_};
  }
  // Found now rather than at the rename after all the work.
  for (auto& name : fixed_.empty() ? std::vector<std::string>{pattern_} : fixed_) {
    if (name == "-" || (name.back() != '/' && !fs::is_directory(name))) continue;
    const std::string dir = name.substr(0, name.find_last_not_of('/') + 1);
    throw UsageError(fmt::format("output '{}' is a folder: name a shard file in it, such as '{}/train-{{000..003}}.shard'",
                                 name, dir));
  }
}

std::string OutputPattern::name(uint64_t i) const {
  if (!fixed_.empty()) {
    if (i >= fixed_.size())
      throw Error(fmt::format("output pattern '{}' names {} shard(s); more are needed (raise --shard-size or widen the pattern)",
                              pattern_, fixed_.size()));
    return fixed_[i];
  }
  size_t pct = pattern_.find('%'), d = pattern_.find('d', pct);
  std::string spec = pattern_.substr(pct + 1, d - pct - 1);  // "05", "5", ""
  size_t width = spec.empty() ? 0 : std::stoul(spec);
  return pattern_.substr(0, pct) + fmt::format("{:0{}}", i, width) + pattern_.substr(d + 1);
}

std::optional<uint64_t> OutputPattern::count() const {
  if (fixed_.empty()) return std::nullopt;
  return fixed_.size();
}

std::string read_whole_file(const std::string& path) {
  if (std::error_code ec; fs::is_directory(path, ec)) throw Error(path + ": a folder, not a file");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(fmt::format("{}: cannot read: {}", path, std::strerror(errno)));
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      throw Error(fmt::format("{}: cannot read: {}", path, std::strerror(err)));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

std::string without_path(const std::string& message, const std::string& path) {
  return message.starts_with(path + ": ") ? message.substr(path.size() + 2) : message;
}

std::string absolute_path(const std::string& path) {
  return path.empty() ? path : std::filesystem::absolute(path).lexically_normal().string();
}

std::string extension(const std::string& path) {
  auto ext = fs::path(path).extension().string();
  if (!ext.empty()) ext.erase(0, 1);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext;
}

bool is_image_path(const std::string& path) {
  auto ext = extension(path);
  for (auto f : kImageFields)
    if (ext == f) return true;
  return false;
}

bool is_unread_image_path(const std::string& path) {
  const auto ext = extension(path);
  for (auto e : {"bmp", "gif", "tif", "tiff", "heic", "heif", "avif", "jxl"})
    if (ext == e) return true;
  return false;
}

bool is_shard_path(const std::string& path) {
  std::string name = fs::path(path).filename().string();
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  if (name.starts_with(".")) return false;  // a writer's temporary file, or hidden
  for (std::string_view end : kShardEndings)
    if (name.ends_with(end)) return true;
  return false;
}

}  // namespace clippo
