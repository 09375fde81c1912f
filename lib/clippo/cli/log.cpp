#include "clippo/cli/log.h"

#include <cstdio>
#include <mutex>

#include "clippo/cli/progress.h"

namespace clippo::log {
namespace {
std::string g_program = "clippo";
int g_level = 1;
std::mutex g_mutex;
}  // namespace

void set_program(std::string_view name) { g_program = std::string(name); }
const std::string& program() { return g_program; }
void set_level(int level) { g_level = level; }
int level() { return g_level; }

void write(std::string_view kind, std::string_view message) {
  std::lock_guard lock(g_mutex);
  Progress::clear_line();  // a message never lands in the middle of a progress bar
  if (kind.empty())
    fmt::print(stderr, "{}: {}\n", g_program, message);
  else
    fmt::print(stderr, "{}: {}: {}\n", g_program, kind, message);
  std::fflush(stderr);
}

}  // namespace clippo::log
