#include "clippo/io/atomic_file.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

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

std::string temporary_beside(const std::string& target) {
  const std::filesystem::path p(target);
  return (p.parent_path() / fmt::format(".{}.tmp{}", p.filename().string(), ::getpid())).string();
}

void write_file_atomic(const std::string& path_given, std::string_view data) {
  const std::filesystem::path p(rename_target(path_given));
  // Errors name the file a link led to as well.
  const std::string path = p == path_given ? path_given : fmt::format("{} (-> {})", path_given, p.string());
  const std::string temp = temporary_beside(p.string());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(fmt::format("{}: cannot create: {}", path, std::strerror(errno)));
  auto fail = [&](const char* what) {
    const int err = errno;
    ::close(fd);
    ::unlink(temp.c_str());
    throw Error(fmt::format("{}: cannot {}: {}", path, what, std::strerror(err)));
  };
  for (size_t done = 0; done < data.size();) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("write");
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) fail("write");
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    throw Error(fmt::format("{}: cannot write: {}", path, std::strerror(err)));
  }
  if (::rename(temp.c_str(), p.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    throw Error(fmt::format("{}: cannot rename from {}: {}", path, temp, std::strerror(err)));
  }
}

}  // namespace clippo
