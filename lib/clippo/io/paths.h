// Input lists and output name patterns.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace clippo {

// Shell-style brace expansion: 'x-{000..099}.shard' (zero-padded to the
// wider bound), 'x-{a,b}.tar', several groups multiply. Text without braces
// expands to itself.
std::vector<std::string> expand_braces(const std::string& pattern);

// Expands each input: brace patterns, then globs the shell left (quoted
// '*', '?', '[...]'; sorted), directories (recursively, sorted, only regular
// files whose name passes `accept`), '-' kept as is. A name that does not
// exist, or a glob that matches nothing, is an error naming it.
std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs,
                                       bool (*accept)(const std::string& path) = nullptr);

// Names of output shards: a brace pattern (a fixed list), a printf pattern
// with one %d conversion such as 'train-%05d.shard' (unbounded), or a plain
// name (one shard).
class OutputPattern {
 public:
  explicit OutputPattern(std::string pattern);
  // The name of shard i; throws when a fixed list has no shard i.
  std::string name(uint64_t i) const;
  // Number of names, or nullopt when unbounded.
  std::optional<uint64_t> count() const;
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  std::vector<std::string> fixed_;  // empty for printf patterns
};

// Absolute and normalised ("" stays ""): one name for a file however it was
// given, for comparing and saving paths (no links resolved).
std::string absolute_path(const std::string& path);

// The whole of a file. Throws Error "PATH: a folder, not a file" or "PATH:
// cannot read: REASON".
std::string read_whole_file(const std::string& path);
// An error's message less its leading "PATH: ", for a message that names the
// file already.
std::string without_path(const std::string& message, const std::string& path);

// Lower-case extension without the dot ("JPG" -> "jpg"), "" if none.
std::string extension(const std::string& path);

// Whether the path names an image by extension.
bool is_image_path(const std::string& path);
// An image in a format clippo does not decode (.bmp, .gif, .tiff, .heic, ...).
bool is_unread_image_path(const std::string& path);
// Whether a file in a directory of shards is one: .shard, .tar, .tar.gz,
// .tgz, .tar.zst, .tzst (so sizes.json, captions and hidden files beside
// them are not read as shards). Files named explicitly are read whatever
// their name.
bool is_shard_path(const std::string& path);

}  // namespace clippo
