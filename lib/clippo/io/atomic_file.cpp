#include "clippo/io/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <fmt/core.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "clippo/cli/error.h"

namespace clippo {

std::string rename_target(const std::string& path) {
  namespace fs = std::filesystem;
  fs::path p(path);
  std::error_code ec;
  for (int hops = 0; hops < 40 && fs::is_symlink(fs::symlink_status(p, ec)); ++hops) {  // 40: the kernel's limit
    const fs::path to = fs::read_symlink(p, ec);
    if (ec) break;
    p = to.is_relative() ? p.parent_path() / to : to;
  }
  // A link to a device or a FIFO is not followed: renaming over /dev/null
  // would replace the device.
  if (const auto st = fs::status(p, ec); fs::exists(st) && !fs::is_regular_file(st)) return path;
  return p.string();  // not normalised: '..' after a linked folder is the kernel's to resolve
}

bool process_ended(pid_t pid) {
  static const long pid_max = [] {
    long v = 0;
    std::ifstream("/proc/sys/kernel/pid_max") >> v;
    return v > 0 ? v : 4194304;  // the kernel's largest
  }();
  return pid > 0 && pid <= pid_max && ::kill(pid, 0) != 0 && errno == ESRCH;
}

std::string temporary_beside(const std::string& target) {
  const std::filesystem::path p(target);
  return (p.parent_path() / fmt::format(".{}.tmp{}", p.filename().string(), ::getpid())).string();
}

AtomicFile::AtomicFile(const std::string& path, Folder folder)
    : target_(rename_target(path)), temp_(temporary_beside(target_)) {
  name_ = target_ == path ? path : fmt::format("{} (-> {})", path, target_);
  // The rename would replace a device or a FIFO (as root, /dev/null
  // itself), or a link to one (/dev/stdout): neither is what was meant.
  if (std::error_code ec; std::filesystem::exists(std::filesystem::status(target_, ec)) &&
                          !std::filesystem::is_regular_file(std::filesystem::status(target_, ec))) {
    temp_.clear();
    throw Error(fmt::format("{}: not a regular file (a folder, a device or a pipe), which writing this file would "
                            "replace",
                            name_));
  }
  if (const std::filesystem::path dir = std::filesystem::path(target_).parent_path(); folder == made && !dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw Error(fmt::format("{}: cannot create folder {}: {}", name_, dir.string(), ec.message()));
  }
  fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error(fmt::format("{}: cannot create: {}", name_, std::strerror(errno)));
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!temp_.empty()) ::unlink(temp_.c_str());
}

void AtomicFile::fail(const char* what, int err) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  ::unlink(temp_.c_str());
  temp_.clear();
  throw Error(fmt::format("{}: cannot {}: {}", name_, what, std::strerror(err)));
}

void AtomicFile::write(std::string_view data) {
  for (size_t done = 0; done < data.size();) {
    const ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("write", n < 0 ? errno : ENOSPC);
    done += static_cast<size_t>(n);
  }
}

void AtomicFile::write_at(uint64_t offset, std::string_view data) {
  for (size_t done = 0; done < data.size();) {
    const ssize_t n = ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("write", n < 0 ? errno : ENOSPC);
    done += static_cast<size_t>(n);
  }
}

void AtomicFile::finish() {
  if (finished_) return;
  if (::fsync(fd_) != 0) fail("write", errno);
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail("write", errno);
  finished_ = true;
}

void AtomicFile::commit() {
  finish();
  if (::rename(temp_.c_str(), target_.c_str()) != 0) {
    const int err = errno;
    const std::string from = temp_;
    ::unlink(temp_.c_str());
    temp_.clear();
    throw Error(fmt::format("{}: cannot rename from {}: {}", name_, from, std::strerror(err)));
  }
  temp_.clear();
}

void write_file_atomic(const std::string& path, std::string_view data) {
  AtomicFile file(path);
  file.write(data);
  file.commit();
}

}  // namespace clippo
