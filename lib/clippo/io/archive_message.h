// libarchive's last error text, for messages: archive_error_string() may be
// null, which fmt refuses to format.
#pragma once
#include <archive.h>

namespace clippo {

inline const char* archive_message(archive* a) {
  const char* s = archive_error_string(a);
  return s ? s : "unknown error";
}

}  // namespace clippo
