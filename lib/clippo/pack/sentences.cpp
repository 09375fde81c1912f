#include "clippo/pack/sentences.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace clippo::pack {
namespace {

bool space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool closer(char c) { return c == '"' || c == '\'' || c == ')' || c == ']' || c == '}'; }

// Lower-case words that end with a period without ending a sentence.
constexpr std::array<std::string_view, 44> kAbbreviations = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "vs", "etc", "e.g", "i.e", "cf", "al",
    "inc", "ltd", "co", "corp", "no", "nos", "vol", "fig", "figs", "approx", "ca", "est", "dept", "gen",
    "gov", "sgt", "capt", "col", "lt", "rev", "jan", "feb", "aug", "sept", "oct", "nov", "dec", "u.s", "u.k"};

// The word that ends just before `end` (which holds the period).
std::string lower_word_before(std::string_view s, size_t end) {
  size_t start = end;
  while (start > 0 && !space(s[start - 1]) && s[start - 1] != '(' && s[start - 1] != '"') --start;
  std::string w(s.substr(start, end - start));
  std::transform(w.begin(), w.end(), w.begin(), [](unsigned char c) { return std::tolower(c); });
  return w;
}

bool is_abbreviation(std::string_view s, size_t period) {
  std::string w = lower_word_before(s, period);
  if (w.empty()) return false;
  if (w.size() == 1 && std::isalpha(static_cast<unsigned char>(w[0]))) return true;  // initials: "J. Smith"
  return std::find(kAbbreviations.begin(), kAbbreviations.end(), w) != kAbbreviations.end();
}

// Whether text after a terminator (at `i`, past whitespace) can start a sentence.
bool starts_sentence(std::string_view s, size_t i) {
  while (i < s.size() && (s[i] == '"' || s[i] == '\'' || s[i] == '(' || s[i] == '[')) ++i;
  if (i >= s.size()) return false;
  unsigned char c = static_cast<unsigned char>(s[i]);
  return std::isupper(c) || std::isdigit(c) || c >= 0x80;  // non-ASCII: accept (e.g. "Émile")
}

void push_clean(std::vector<std::string>& out, std::string_view raw) {
  std::string s;
  bool pending_space = false;
  for (char c : raw) {
    if (space(c)) {
      pending_space = !s.empty();
      continue;
    }
    if (pending_space) s += ' ';
    pending_space = false;
    s += c;
  }
  if (!s.empty()) out.push_back(std::move(s));
}

}  // namespace

std::vector<std::string> split_sentences(std::string_view text) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c != '.' && c != '!' && c != '?') continue;
    size_t end = i + 1;
    while (end < text.size() && (text[end] == '.' || text[end] == '!' || text[end] == '?')) ++end;  // "?!", "..."
    bool lone_period = c == '.' && end == i + 1;
    while (end < text.size() && closer(text[end])) ++end;
    if (end < text.size() && !space(text[end])) continue;  // "3.14", "e.g.x", "a.b.c"
    size_t next = end;
    while (next < text.size() && space(text[next])) ++next;
    if (next < text.size() && !starts_sentence(text, next)) continue;
    // "Dr. Smith" stays one sentence; an abbreviation at the very end still ends it.
    if (lone_period && next < text.size() && is_abbreviation(text, i)) continue;
    // A numbered heading's label ("1.", "2.3.") starts its sentence: it is none.
    std::string_view so_far = text.substr(start, i - start);
    while (!so_far.empty() && space(so_far.front())) so_far.remove_prefix(1);
    if (lone_period && !so_far.empty() &&
        std::all_of(so_far.begin(), so_far.end(), [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)) || ch == '.'; }))
      continue;
    push_clean(out, text.substr(start, end - start));
    start = next;
    i = next > 0 ? next - 1 : 0;
  }
  if (start < text.size()) push_clean(out, text.substr(start));
  return out;
}

std::vector<std::string> split_documents(std::string_view text) {
  std::vector<std::string> docs;
  std::string cur;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    bool blank = std::all_of(line.begin(), line.end(), [](char c) { return space(c); });
    if (blank) {
      if (!cur.empty()) docs.push_back(std::move(cur));
      cur.clear();
    } else {
      if (!cur.empty()) cur += '\n';
      cur += line;
    }
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  if (!cur.empty()) docs.push_back(std::move(cur));
  return docs;
}

}  // namespace clippo::pack
