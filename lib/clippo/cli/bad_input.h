// Bad input items (an unreadable image, a missing caption): reported with
// where and why, counted by reason, then skipped or fatal per --on-error.
#pragma once
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "clippo/cli/error.h"

namespace clippo {

class BadInput {
 public:
  explicit BadInput(OnError policy) : policy_(policy) {}

  // where: the file (and member or line); reason: a short fixed phrase that
  // groups the count ("not an image"); detail: optional specifics.
  // Throws Error with OnError::fail. Thread-safe.
  void report(const std::string& where, const std::string& reason, const std::string& detail = "");

  uint64_t total() const;
  const std::map<std::string, uint64_t>& by_reason() const { return counts_; }
  // "3 skipped: 2 not an image, 1 missing caption", or "" when none.
  std::string summary() const;
  OnError policy() const { return policy_; }

 private:
  OnError policy_;
  mutable std::mutex mutex_;
  std::map<std::string, uint64_t> counts_;
};

}  // namespace clippo
