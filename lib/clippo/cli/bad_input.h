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
  // The first `shown` reports are warnings, the rest are shown with -v only
  // (a long training run meets many); all are counted.
  explicit BadInput(OnError policy, uint64_t shown = UINT64_MAX) : policy_(policy), shown_(shown) {}

  // where: the file (and member or line); reason: a short fixed phrase that
  // groups the count ("not an image"); detail: optional specifics.
  // Throws Error with OnError::fail. Thread-safe.
  void report(const std::string& where, const std::string& reason, const std::string& detail = "");

  uint64_t total() const;
  const std::map<std::string, uint64_t>& by_reason() const { return counts_; }
  // "3 skipped: 1 missing caption, 2 not an image" (reasons in order), or "" when none.
  std::string summary() const;
  OnError policy() const { return policy_; }

 private:
  static constexpr size_t kReasons = 50;
  OnError policy_;
  uint64_t shown_, reported_ = 0;
  mutable std::mutex mutex_;
  std::map<std::string, uint64_t> counts_;
};

}  // namespace clippo
