// UTF-8 checks shared by the tools that read and write text.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace clippo {

// Length of the valid UTF-8 sequence at s[i] (RFC 3629: no overlong forms,
// no surrogates, nothing past U+10FFFF), or 0 when the bytes there are none.
size_t utf8_sequence_length(std::string_view s, size_t i);

bool valid_utf8(std::string_view s);

// Number of code points of valid UTF-8.
size_t count_code_points(std::string_view s);

// A UTF-8 byte-order mark, as Excel and Notepad write at the start of a
// file, is no part of the text: tables, captions and documents drop it.
void strip_utf8_bom(std::string& text);

}  // namespace clippo
