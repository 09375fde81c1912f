// Files written whole or not at all: a temporary file renamed into place.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace clippo {

// A file written under a hidden temporary name beside its target and renamed
// over it at the end, so a reader sees the old file or the whole new one.
// The target is the end of the symbolic links at `path`, so a link stays
// one. Errors are Error naming `path` (and where a link led) with the
// system's reason; any old file is then left as it was.
class AtomicFile {
 public:
  enum Folder { existing, made };  // made: a missing folder for the target is created
  explicit AtomicFile(const std::string& path, Folder folder = existing);
  ~AtomicFile();  // before commit(): the temporary file is removed
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  int fd() const { return fd_; }
  // `path`, or "PATH (-> TARGET)" where a link led elsewhere: for messages.
  const std::string& name() const { return name_; }
  void write(std::string_view data);
  // Over bytes written before (a header whose counts are known at the end).
  void write_at(uint64_t offset, std::string_view data);
  // fsyncs and closes the file, still under its temporary name.
  void finish();
  // finish() if not yet, then renames the file over its target.
  void commit();

 private:
  [[noreturn]] void fail(const char* what, int err);
  std::string target_, temp_, name_;
  int fd_ = -1;
  bool finished_ = false;
};

// AtomicFile(path), its data, commit().
void write_file_atomic(const std::string& path, std::string_view data);

// Where such a file for `path` goes: the end of the symbolic links there
// (whether that file exists yet or not), so that a link stays one; else, and
// for a link to a device or a FIFO, `path` itself.
std::string rename_target(const std::string& path);

// The temporary file for `target`: hidden beside it, named for this process
// (".NAME.tmpPID"), so concurrent writers do not share it.
std::string temporary_beside(const std::string& target);

// Whether no process `pid` runs here, so that a temporary named for it is
// left over (a number past this kernel's pid_max is not: another machine's
// process may have named it, on a shared file system).
bool process_ended(pid_t pid);

}  // namespace clippo
