#include "text_spans.h"

#include <cctype>

namespace memembed::tune {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

std::string trim(std::string_view text) {
  size_t begin = 0, end = text.size();
  while (begin < end && is_space(text[begin])) ++begin;
  while (end > begin && is_space(text[end - 1])) --end;
  return std::string(text.substr(begin, end - begin));
}

void push_trimmed(std::vector<std::string>& out, std::string_view piece) {
  std::string trimmed = trim(piece);
  if (!trimmed.empty()) out.push_back(std::move(trimmed));
}

// Length of "[<time>] <Speaker>: " at the start of `text`, 0 when there is none.
size_t turn_header_length(std::string_view text) {
  if (text.empty() || text[0] != '[') return 0;
  const size_t close = text.find(']');
  if (close == std::string_view::npos || close > 80 || close + 1 >= text.size() || text[close + 1] != ' ') return 0;
  const size_t colon = text.find(':', close + 2);
  if (colon == std::string_view::npos || colon - (close + 2) == 0 || colon - (close + 2) > 40) return 0;
  for (size_t i = close + 2; i < colon; ++i) {
    if (text[i] == '\n') return 0;
  }
  size_t end = colon + 1;
  while (end < text.size() && is_space(text[end])) ++end;
  return end;
}

}  // namespace

std::vector<std::string> split_paragraphs(std::string_view text) {
  std::vector<std::string> paragraphs;
  size_t start = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    if (text[pos] == '\n') {
      size_t next = pos + 1;
      while (next < text.size() && (text[next] == ' ' || text[next] == '\t' || text[next] == '\r')) ++next;
      if (next < text.size() && text[next] == '\n') {
        push_trimmed(paragraphs, text.substr(start, pos - start));
        start = next + 1;
        pos = next + 1;
        continue;
      }
    }
    ++pos;
  }
  push_trimmed(paragraphs, text.substr(start));
  return paragraphs;
}

std::vector<std::string> split_sentences(std::string_view text) {
  std::vector<std::string> sentences;
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const bool terminal = (text[i] == '.' || text[i] == '!' || text[i] == '?') && i + 1 < text.size() && is_space(text[i + 1]);
    if (terminal || text[i] == '\n') {
      push_trimmed(sentences, text.substr(start, i + 1 - start));
      start = i + 1;
    }
  }
  push_trimmed(sentences, text.substr(start));
  return sentences;
}

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_space(text[i])) ++i;
    const size_t begin = i;
    while (i < text.size() && !is_space(text[i])) ++i;
    if (i > begin) words.emplace_back(text.substr(begin, i - begin));
  }
  return words;
}

size_t count_words(std::string_view text) {
  size_t count = 0;
  bool in_word = false;
  for (char c : text) {
    if (is_space(c)) {
      in_word = false;
    } else if (!in_word) {
      in_word = true;
      ++count;
    }
  }
  return count;
}

std::string join_words(const std::vector<std::string>& words, size_t begin, size_t end) {
  std::string joined;
  for (size_t i = begin; i < end; ++i) {
    if (i > begin) joined += ' ';
    joined += words[i];
  }
  return joined;
}

bool is_dialogue_turn(std::string_view text) { return turn_header_length(text) > 0; }

std::string turn_content(std::string_view text) { return trim(text.substr(turn_header_length(text))); }

}  // namespace memembed::tune
