// Splitting English prose into sentences, for neighbouring-sentence pairs.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace clippo::pack {

// Splits after '.', '!' or '?' (and any closing quotes or brackets) when
// whitespace and a sentence start follow, except after common abbreviations
// ("Dr.", "e.g."), single-letter initials and inside numbers ("3.5").
// Whitespace runs inside a sentence collapse to one space.
std::vector<std::string> split_sentences(std::string_view text);

// Documents in a plain-text file: blocks separated by blank lines.
std::vector<std::string> split_documents(std::string_view text);

}  // namespace clippo::pack
