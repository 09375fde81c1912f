// One progress bar for every tool: on stderr, only when stderr is a terminal.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace clippo {

// "1.2 MB", "3.4 GB": sizes for people.
std::string human_bytes(double bytes);

class Progress {
 public:
  // total = 0 when unknown (no percentage or ETA then).
  explicit Progress(std::string label, uint64_t total = 0);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void add(uint64_t items, uint64_t bytes = 0);
  void set_total(uint64_t total) { total_ = total; }
  void finish();  // clears the bar

  // Erases a bar that is on screen, so a log line can be printed cleanly.
  static void clear_line();
  static bool enabled();  // stderr is a terminal and not --quiet

 private:
  void draw(bool force);
  std::string label_;
  uint64_t total_, items_ = 0, bytes_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool active_;
};

}  // namespace clippo
