// Files written whole or not at all: a temporary file renamed into place.
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

// Where such a file for `path` goes: the end of the symbolic links there
// (whether that file exists yet or not), so that a link stays one; else, and
// for a link to a device or a FIFO, `path` itself.
std::string rename_target(const std::string& path);

// The temporary file for `target`: hidden beside it, named for this process
// (".NAME.tmpPID"), so concurrent writers do not share it.
std::string temporary_beside(const std::string& target);

}  // namespace clippo
