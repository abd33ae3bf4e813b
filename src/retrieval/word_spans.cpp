#include "word_spans.h"

namespace memembed::retrieval {

std::vector<std::string> split_words(const std::string& text) {
  std::vector<std::string> words;
  std::string current;
  for (char c : text) {
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      if (!current.empty()) words.push_back(std::move(current));
      current.clear();
    } else {
      current += c;
    }
  }
  if (!current.empty()) words.push_back(std::move(current));
  return words;
}

std::string join_words(const std::vector<std::string>& words, size_t begin, size_t end) {
  std::string out;
  for (size_t i = begin; i < end; ++i) {
    if (!out.empty()) out += ' ';
    out += words[i];
  }
  return out;
}

std::vector<Span> sentences(const std::vector<std::string>& words) {
  std::vector<Span> out;
  size_t start = 0;
  for (size_t i = 0; i < words.size(); ++i) {
    const char last = words[i].back();
    if (last == '.' || last == '?' || last == '!' || i + 1 == words.size()) {
      if (i + 1 - start >= kMinSpanWords) out.emplace_back(start, i + 1);
      start = i + 1;
    }
  }
  return out;
}

}  // namespace memembed::retrieval
