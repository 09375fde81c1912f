#include "clippo/cli/progress.h"

#include <fmt/core.h>
#include <unistd.h>

#include <cstdio>

#include "clippo/cli/log.h"

namespace clippo {
namespace {

std::string human_time(double s) {
  auto t = static_cast<long>(s);
  return t >= 3600 ? fmt::format("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
                   : fmt::format("{}:{:02}", t / 60, t % 60);
}
}  // namespace

std::string human_bytes(double b) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1000 && u < 4) b /= 1000, ++u;
  return u ? fmt::format("{:.1f} {}", b, units[u]) : fmt::format("{:.0f} B", b);
}

bool Progress::enabled() { return log::level() >= log::kNormal && isatty(STDERR_FILENO); }

void Progress::clear_line() { log::clear_status(); }

Progress::Progress(std::string label, uint64_t total)
    : label_(std::move(label)), total_(total), start_(std::chrono::steady_clock::now()),
      last_draw_(start_), active_(enabled()) {}

Progress::~Progress() { finish(); }

void Progress::add(uint64_t items, uint64_t bytes) {
  items_ += items;
  bytes_ += bytes;
  if (active_) draw(false);
}

void Progress::finish() {
  if (active_) clear_line();
  active_ = false;
}

void Progress::draw(bool force) {
  auto now = std::chrono::steady_clock::now();
  if (!force && now - last_draw_ < std::chrono::milliseconds(200)) return;
  last_draw_ = now;
  double secs = std::chrono::duration<double>(now - start_).count();
  double rate = secs > 0 ? items_ / secs : 0;
  std::string line = fmt::format("{} {}", label_, items_);
  if (total_) line += fmt::format("/{} ({:.0f}%)", total_, 100.0 * items_ / total_);
  line += fmt::format("  {:.0f}/s", rate);
  if (bytes_) line += fmt::format("  {}/s", human_bytes(secs > 0 ? bytes_ / secs : 0));
  if (total_ && rate > 0 && items_ <= total_)
    line += fmt::format("  ETA {}", human_time((total_ - items_) / rate));
  log::show_status(line);
}

}  // namespace clippo
