// Small files (config.json, sizes.json) written whole or not at all.
#pragma once
#include <string>
#include <string_view>

namespace clippo {

// Writes `data` to a hidden temporary file beside `path` (named for this
// process, so concurrent runs do not share it), fsyncs it and renames it to
// `path`, or to the file a symbolic link there points to. Throws Error
// naming `path` and the system's reason; the temporary file is then removed
// and any old `path` is left as it was.
void write_file_atomic(const std::string& path, std::string_view data);

}  // namespace clippo
