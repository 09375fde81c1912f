// The files of a run's folder beside the checkpoint's contents: the lock
// that keeps a second run out, metrics.jsonl, kept copies of the checkpoint,
// and the temporaries a killed run leaves. No torch here.
#pragma once
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

namespace clippo::train {

// An exclusive lock on DIR/.lock while alive (flock: it ends with the
// process, however that ends). Throws Error naming the process that holds
// it; where the filesystem has no locks, warns and goes on.
class WorkdirLock {
 public:
  explicit WorkdirLock(const std::filesystem::path& dir);
  ~WorkdirLock();
  WorkdirLock(const WorkdirLock&) = delete;
  WorkdirLock& operator=(const WorkdirLock&) = delete;

 private:
  int fd_ = -1;
};

// Removes what killed runs left: the hidden temporaries of checkpoint.npz,
// its kept copies, config.json and metrics.jsonl in DIR, and, where those
// are links, beside the files they lead to. Call it with the lock held.
void remove_stale_temporaries(const std::filesystem::path& dir);

// Keeps a copy of `checkpoint` as `keep`, whole or not at all: copied to a
// temporary, fsynced and renamed into place.
void keep_copy(const std::filesystem::path& checkpoint, const std::filesystem::path& keep);

// metrics.jsonl, one JSON object a line.
class MetricsLog {
 public:
  // Opens PATH for appending. A run killed after its last checkpoint (or
  // before its first) logged steps it will train again: the lines past
  // `step`, and any torn by the kill, are dropped, so each step is in the
  // file once, in order.
  MetricsLog(std::filesystem::path path, int64_t step);
  // Appends one line and flushes it; throws Error naming the file when the
  // write fails (a full disk).
  void append(const std::string& json);
  // Whether the kept lines hold an evaluation of `step`.
  bool has_eval_at(int64_t step) const { return eval_steps_.count(step) > 0; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::ofstream out_;
  std::set<int64_t> eval_steps_;
};

}  // namespace clippo::train
