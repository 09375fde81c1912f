// Messages on stderr in one style: "clippo-pack: warning: x.jpg: not an image".
#pragma once
#include <fmt/core.h>

#include <string>
#include <string_view>

namespace clippo::log {

void set_program(std::string_view name);
const std::string& program();

// What reaches stderr: each level adds to the one below it.
enum Level : int { kErrors = 0, kWarnings = 1, kNormal = 2, kVerbose = 3 };
void set_level(int level);
int level();

void write(std::string_view kind, std::string_view message);
// A status line (a progress bar) redrawn in place on stderr; the next
// message or clear_status() wipes it first, keep_status() ends it with a
// newline so that it stays. Safe from any thread. Nothing here throws: a
// closed stderr loses the messages, not the work.
void show_status(std::string_view line);
void clear_status();
void keep_status();

template <typename... A>
void warn(fmt::format_string<A...> f, A&&... a) {
  if (level() >= kWarnings) write("warning", fmt::format(f, std::forward<A>(a)...));
}
template <typename... A>
void info(fmt::format_string<A...> f, A&&... a) {
  if (level() >= kNormal) write("", fmt::format(f, std::forward<A>(a)...));
}
template <typename... A>
void debug(fmt::format_string<A...> f, A&&... a) {
  if (level() >= kVerbose) write("", fmt::format(f, std::forward<A>(a)...));
}
inline void error(std::string_view message) { write("error", message); }

}  // namespace clippo::log
