#include "added_tokens.h"

#include "normalizer.h"
#include "unicode.h"

#include <algorithm>

namespace memembed::text {

namespace {

bool is_word_before(std::string_view text, size_t end) {
  if (end == 0) return false;
  size_t start = end - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  return unicode::is_word_char(unicode::next(text, start));
}

bool is_word_at(std::string_view text, size_t start) {
  if (start >= text.size()) return false;
  return unicode::is_word_char(unicode::next(text, start));
}

// Start of the run of whitespace that ends at `end`.
size_t whitespace_run_start(std::string_view text, size_t end) {
  while (end > 0) {
    size_t start = end - 1;
    while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
    size_t i = start;
    if (!unicode::is_white_space(unicode::next(text, i))) break;
    end = start;
  }
  return end;
}

// End of the run of whitespace that starts at `start`.
size_t whitespace_run_end(std::string_view text, size_t start) {
  while (start < text.size()) {
    size_t i = start;
    if (!unicode::is_white_space(unicode::next(text, i))) break;
    start = i;
  }
  return start;
}

}  // namespace

AddedVocabulary::AddedVocabulary(std::vector<AddedToken> tokens, const Normalizer* normalizer) {
  for (auto& token : tokens) {
    if (token.content.empty()) continue;
    if (auto it = by_content_.find(token.content); it != by_content_.end()) {
      // Listed again: the later flags win, as in Hugging Face's AddedVocabulary.
      by_id_.erase(tokens_[it->second].id);
      by_id_.emplace(token.id, it->second);
      tokens_[it->second] = std::move(token);
      continue;
    }
    by_content_.emplace(token.content, tokens_.size());
    by_id_.emplace(token.id, tokens_.size());
    tokens_.push_back(std::move(token));
  }
  // Hugging Face builds its matchers from the special tokens first, then the others; the order
  // only decides between tokens with identical patterns.
  for (AddedToken& token : tokens_) {
    token.decoded = token.normalized && normalizer != nullptr ? normalizer->normalize(token.content) : token.content;
  }
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < tokens_.size(); ++i) {
      const AddedToken& token = tokens_[i];
      if (token.special != (pass == 0)) continue;
      if (!token.normalized) {
        raw_.add(token.content, i);
      } else {
        normalized_.add(token.decoded, i);
      }
    }
  }
}

const AddedToken* AddedVocabulary::find_id(TokenId id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedVocabulary::find_content(std::string_view content) const {
  auto it = by_content_.find(std::string(content));
  return it == by_content_.end() ? nullptr : &tokens_[it->second];
}

int AddedVocabulary::Matcher::child(int node, unsigned char byte) const {
  const auto& children = nodes_[node].children;
  auto it = std::lower_bound(children.begin(), children.end(), byte,
                             [](const std::pair<unsigned char, int>& c, unsigned char b) { return c.first < b; });
  return it != children.end() && it->first == byte ? it->second : -1;
}

void AddedVocabulary::Matcher::add(std::string_view pattern, size_t token_index) {
  if (pattern.empty()) return;
  first_bytes_[static_cast<unsigned char>(pattern[0])] = true;
  int node = 0;
  for (char ch : pattern) {
    const auto byte = static_cast<unsigned char>(ch);
    int next = child(node, byte);
    if (next < 0) {
      next = static_cast<int>(nodes_.size());
      nodes_.emplace_back();
      auto& children = nodes_[node].children;
      auto it = std::lower_bound(children.begin(), children.end(), byte,
                                 [](const std::pair<unsigned char, int>& c, unsigned char b) { return c.first < b; });
      children.insert(it, {byte, next});
    }
    node = next;
  }
  if (nodes_[node].token < 0) nodes_[node].token = static_cast<int>(token_index);
}

void AddedVocabulary::Matcher::split(std::string_view text, const std::vector<AddedToken>& tokens,
                                     std::vector<Split>& out) const {
  if (text.empty()) return;
  if (nodes_.size() == 1) {
    out.push_back(Split{text, std::nullopt});
    return;
  }
  size_t emitted = 0;  // end of what has been handed out
  size_t search = 0;   // where the next search starts: the end of the previous raw match
  while (search < text.size()) {
    // Leftmost-longest: the first position where any pattern starts, its longest pattern there.
    size_t start = text.size(), stop = 0;
    int found = -1;
    for (size_t i = search; i < text.size() && found < 0; ++i) {
      if (!first_bytes_[static_cast<unsigned char>(text[i])]) continue;
      int node = 0;
      for (size_t j = i; j < text.size(); ++j) {
        node = child(node, static_cast<unsigned char>(text[j]));
        if (node < 0) break;
        if (nodes_[node].token >= 0) {
          found = nodes_[node].token;
          start = i;
          stop = j + 1;
        }
      }
    }
    if (found < 0) break;
    search = stop;
    const AddedToken& token = tokens[found];
    if (token.single_word && (is_word_before(text, start) || is_word_at(text, stop))) continue;
    if (token.lstrip) start = std::max(whitespace_run_start(text, start), emitted);
    if (token.rstrip) stop = whitespace_run_end(text, stop);
    if (emitted < start) out.push_back(Split{text.substr(emitted, start - emitted), std::nullopt});
    out.push_back(Split{text.substr(start, stop - start), token.id});
    emitted = stop;
  }
  if (emitted < text.size()) out.push_back(Split{text.substr(emitted), std::nullopt});
}

}  // namespace memembed::text
