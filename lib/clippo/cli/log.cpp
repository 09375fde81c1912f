#include "clippo/cli/log.h"

#include <cstdio>
#include <mutex>


namespace clippo::log {
namespace {
std::string g_program = "clippo";
int g_level = kNormal;
std::mutex g_mutex;  // one line at a time, from any thread
bool g_status_on_screen = false;

void clear_status_locked() {
  if (!g_status_on_screen) return;
  std::fputs("\r\033[K", stderr);
  g_status_on_screen = false;
}
}  // namespace

void set_program(std::string_view name) { g_program = std::string(name); }
const std::string& program() { return g_program; }
void set_level(int level) { g_level = level; }
int level() { return g_level; }

void write(std::string_view kind, std::string_view message) {
  const std::string line = kind.empty() ? fmt::format("{}: {}\n", g_program, message)
                                        : fmt::format("{}: {}: {}\n", g_program, kind, message);
  std::lock_guard lock(g_mutex);
  clear_status_locked();  // a message never lands in the middle of a progress bar
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
}

void show_status(std::string_view line) {
  const std::string text = fmt::format("\r\033[K{}", line);
  std::lock_guard lock(g_mutex);
  std::fputs(text.c_str(), stderr);
  std::fflush(stderr);
  g_status_on_screen = true;
}

void clear_status() {
  std::lock_guard lock(g_mutex);
  clear_status_locked();
}

void keep_status() {
  std::lock_guard lock(g_mutex);
  if (!g_status_on_screen) return;
  std::fputs("\n", stderr);
  g_status_on_screen = false;
}

}  // namespace clippo::log
