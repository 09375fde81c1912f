#include "clippo/cli/bad_input.h"

#include "clippo/cli/log.h"

namespace clippo {

void BadInput::report(const std::string& where, const std::string& reason, const std::string& detail) {
  std::string msg = where + ": " + reason + (detail.empty() || detail == reason ? "" : " (" + detail + ")");
  if (policy_ == OnError::fail) throw Error(msg);
  uint64_t n;
  {
    std::lock_guard lock(mutex_);
    // Reasons that hold specifics (a decoder's message) are many: past a
    // few dozen, the rest share one count.
    ++counts_[counts_.size() < kReasons || counts_.count(reason) ? reason : "for other reasons"];
    n = ++reported_;
  }
  if (n < shown_) log::warn("{} (skipped)", msg);
  else if (n == shown_) log::warn("{} (skipped; further ones are counted, and shown with -v)", msg);
  else log::debug("{} (skipped)", msg);
}

uint64_t BadInput::total() const {
  std::lock_guard lock(mutex_);
  uint64_t n = 0;
  for (auto& [r, c] : counts_) n += c;
  return n;
}

std::string BadInput::summary() const {
  std::lock_guard lock(mutex_);
  uint64_t n = 0;
  std::string parts;
  for (auto& [r, c] : counts_) {
    n += c;
    parts += (parts.empty() ? "" : ", ") + std::to_string(c) + " " + r;
  }
  return n ? std::to_string(n) + " skipped: " + parts : "";
}

}  // namespace clippo
