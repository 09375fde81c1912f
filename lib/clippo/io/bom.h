// A UTF-8 byte-order mark, as Excel and Notepad write at the start of a
// file, is no part of the text: tables, captions and documents drop it.
#pragma once
#include <string>
#include <string_view>

namespace clippo {

inline constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

inline void strip_utf8_bom(std::string& text) {
  if (std::string_view(text).starts_with(kUtf8Bom)) text.erase(0, kUtf8Bom.size());
}

}  // namespace clippo
