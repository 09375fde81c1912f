#include "clippo/train/workdir.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <regex>

#include "clippo/cli/error.h"
#include "clippo/cli/log.h"
#include "clippo/io/atomic_file.h"
#include "clippo/io/json.h"

namespace fs = std::filesystem;

namespace clippo::train {

WorkdirLock::WorkdirLock(const fs::path& dir) {
  const fs::path path = dir / ".lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error(fmt::format("{}: cannot open: {}", path.string(), std::strerror(errno)));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      char pid[32] = {};
      const ssize_t n = ::pread(fd_, pid, sizeof pid - 1, 0);
      ::close(fd_);
      fd_ = -1;
      throw Error(fmt::format("{} is in use by another clippo-train{}: two runs in one workdir would overwrite "
                              "each other's checkpoints",
                              dir.string(), n > 0 ? fmt::format(" (process {})", std::string(pid, n)) : ""));
    }
    log::warn("{}: cannot lock ({}): make sure no other clippo-train uses this workdir", path.string(),
              std::strerror(errno));
    return;
  }
  // Who holds it, for the message of a second run (the lock holds without it).
  const std::string me = std::to_string(::getpid());
  if (::ftruncate(fd_, 0) == 0) (void)!::pwrite(fd_, me.data(), me.size(), 0);
}

WorkdirLock::~WorkdirLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

namespace {

struct Temporary {
  std::string name;  // of the file it was to become
  pid_t pid;
  bool hidden;
};

// A temporary file of a write of NAME: ".NAME.tmpPID", or libzip's own
// ".NAME.tmpPID.XXXXXX" inside a checkpoint's; not hidden, how versions
// before 2026-12 named a checkpoint's.
std::optional<Temporary> parse_temporary(const std::string& file) {
  static const std::regex temporary(R"((\.?)(.+)\.tmp(\d{1,9})(?:\.[A-Za-z0-9]{6})?)");
  std::smatch m;
  if (!std::regex_match(file, m, temporary)) return std::nullopt;
  return Temporary{m[2].str(), static_cast<pid_t>(std::stol(m[3].str())), m[1].length() > 0};
}

}  // namespace

void remove_stale_temporaries(const fs::path& dir) {
  std::map<fs::path, std::pair<uint64_t, uint64_t>> removed;  // folder -> files, bytes
  auto remove_in = [&](const fs::path& folder, const std::function<bool(const Temporary&)>& stale) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(folder, ec)) {
      const auto temporary = parse_temporary(e.path().filename().string());
      std::error_code size_ec;
      if (!temporary || !e.is_regular_file(ec) || !stale(*temporary)) continue;
      const auto size = e.file_size(size_ec);
      if (fs::remove(e.path(), ec)) {
        auto& [files, bytes] = removed[folder.lexically_normal()];
        ++files, bytes += size_ec ? 0 : size;
      }
    }
  };
  // The workdir's lock keeps other runs out: every temporary of its files is stale.
  static const std::regex ours(R"(checkpoint\.npz|checkpoint-\d+\.npz|config\.json|metrics\.jsonl)");
  remove_in(dir, [](const Temporary& t) {
    return (t.hidden && std::regex_match(t.name, ours)) || t.name == "checkpoint.npz";
  });
  // A file of the run that is a link was written beside the file it leads
  // to. The lock does not cover that folder: only what a process that has
  // ended left there goes.
  for (const char* name : {"checkpoint.npz", "config.json", "metrics.jsonl"}) {
    const fs::path target(rename_target((dir / name).string()));
    if (target == dir / name) continue;
    const fs::path folder = target.has_parent_path() ? target.parent_path() : ".";
    remove_in(folder, [&](const Temporary& t) { return t.hidden && t.name == target.filename() && process_ended(t.pid); });
  }
  for (const auto& [folder, count] : removed)
    log::info("{}: removed {} temporary file(s) of a killed run ({:.1f} MB)", folder.string(), count.first,
              count.second / 1e6);
}

void keep_copy(const fs::path& checkpoint, const fs::path& keep) {
  const fs::path temp = temporary_beside(keep.string());
  std::error_code ec;
  fs::remove(temp, ec);
  // A copy, not a hard link: a link would change with checkpoint.npz when
  // something rewrites that in place (cp, np.savez).
  fs::copy_file(checkpoint, temp, ec);
  if (!ec) {  // the copy's data reaches the disk before its name does
    const int fd = ::open(temp.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::fsync(fd) != 0) ec = std::error_code(errno, std::generic_category());
    if (fd >= 0) ::close(fd);
  }
  if (!ec) fs::rename(temp, keep, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    throw Error(fmt::format("{}: cannot keep a copy of {}: {}", keep.string(), checkpoint.string(), ec.message()));
  }
}

MetricsLog::MetricsLog(fs::path path, int64_t step) : path_(std::move(path)) {
  std::error_code ec;
  std::ifstream in;
  if (fs::is_regular_file(path_, ec)) in.open(path_);  // not a device: /dev/full reads zeros for ever
  if (in) {
    std::string kept, line;
    int64_t dropped = 0;
    bool torn_end = false;
    while (std::getline(in, line)) {
      torn_end = in.eof();  // the last line had no newline
      std::optional<double> s;
      bool eval = false;
      try {
        const JsonObject o = JsonObject::parse(line, path_.string());
        s = o.get_number("step");
        for (const auto& k : o.keys()) eval |= k.starts_with("eval/");
      } catch (const Error&) {
      }
      if (!s || *s > static_cast<double>(step)) {
        ++dropped;
        continue;
      }
      kept += line + "\n";
      if (eval) eval_steps_.insert(static_cast<int64_t>(*s));
    }
    in.close();
    // A whole last line without its newline gets one, or the next line would join it.
    if (dropped || torn_end) write_file_atomic(path_.string(), kept);
    if (dropped)
      log::info("{}: {} line(s) past step {} or unreadable dropped (the run goes on from step {})", path_.string(),
                dropped, step, step);
  }
  out_.open(path_, std::ios::app);
  if (!out_) throw Error(fmt::format("{}: cannot open for appending: {}", path_.string(), std::strerror(errno)));
}

void MetricsLog::append(const std::string& json) {
  out_ << json << '\n';
  out_.flush();
  if (!out_) throw Error(fmt::format("{}: cannot write (disk full?)", path_.string()));
}

}  // namespace clippo::train
