// Messages on stderr in one style: "clippo-pack: warning: x.jpg: not an image".
#pragma once
#include <fmt/core.h>

#include <string>
#include <string_view>

namespace clippo::log {

void set_program(std::string_view name);
const std::string& program();

// 0 = quiet (errors only), 1 = normal, 2+ = verbose.
void set_level(int level);
int level();

void write(std::string_view kind, std::string_view message);
// A status line (a progress bar) redrawn in place on stderr; the next
// message or clear_status() wipes it first. Safe from any thread.
void show_status(std::string_view line);
void clear_status();

template <typename... A>
void warn(fmt::format_string<A...> f, A&&... a) {
  if (level() >= 1) write("warning", fmt::format(f, std::forward<A>(a)...));
}
template <typename... A>
void info(fmt::format_string<A...> f, A&&... a) {
  if (level() >= 1) write("", fmt::format(f, std::forward<A>(a)...));
}
template <typename... A>
void debug(fmt::format_string<A...> f, A&&... a) {
  if (level() >= 2) write("", fmt::format(f, std::forward<A>(a)...));
}
inline void error(std::string_view message) { write("error", message); }

}  // namespace clippo::log
