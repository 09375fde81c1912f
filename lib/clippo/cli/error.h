// One error type for the whole project; the tools turn it into exit codes.
#pragma once
#include <stdexcept>
#include <string>

namespace clippo {

// A runtime failure: bad data, a missing file. Exit status 1.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The command line itself is wrong. Exit status 2.
class UsageError : public Error {
 public:
  using Error::Error;
};

// What to do with one bad input item (a corrupt member, an unreadable image).
enum class OnError { skip, fail };

}  // namespace clippo
