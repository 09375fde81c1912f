// Zero-shot text: prompt templates ("a photo of a {}."), class-name lists and
// the bundled sets of both in share/clippo (prompts/, classes/). Used by
// clippo-knn zeroshot and by clippo-train's evaluation alike.
#pragma once
#include <string>
#include <vector>

namespace clippo::text {

// A bundled file under share/clippo: $CLIPPO_DATA, the installed copy, else
// the source tree. Throws Error naming where it looked.
std::string find_data_file(const std::string& relative);

// The non-empty lines of a file ('-' = stdin; a trailing \r dropped). Throws
// Error naming the file for one that cannot be read or has no such lines;
// `what` says what the lines are ("class names").
std::vector<std::string> load_lines(const std::string& path, const std::string& what);

// Templates from a file, or a bundled set by name (clip80, clip7). Throws
// Error for a missing file, an empty set or a line without "{}".
std::vector<std::string> load_templates(const std::string& name_or_path);

// Class names, one per line, from a file or a bundled list by name (mnist,
// cifar10, imagenet).
std::vector<std::string> load_classes(const std::string& name_or_path);

// Prompts in class-major order: class c, template t at c * T + t.
std::vector<std::string> fill_templates(const std::vector<std::string>& classes,
                                        const std::vector<std::string>& templates);

}  // namespace clippo::text
