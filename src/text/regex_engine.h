// A small backtracking regular-expression engine for the split patterns found in tokenizer.json
// files, with the Oniguruma semantics Hugging Face uses: leftmost-first alternation, greedy and
// lazy quantifiers, (?i:...) groups, look-ahead, Unicode classes (\s = White_Space, \w, \d,
// \p{L}, \p{N}, \p{Lu}, ...) and nested character classes. Look-behind, back-references and
// script classes (\p{Han}) are refused with an Unsupported error naming the construct.
//
// The well-known GPT-2 / Llama-3 / Qwen2 patterns have hand-written scanners (split_pattern.h);
// this engine covers the rest and serves as the reference those scanners are tested against.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace memembed::text {

class Regex {
 public:
  // Throws InvalidInput for a malformed pattern, Unsupported for a construct outside the subset.
  explicit Regex(std::string_view pattern);
  ~Regex();
  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;

  // Non-overlapping, non-empty matches scanning left to right, as byte ranges [first, second).
  // `text` must be valid UTF-8. Matching is bounded (patterns come from untrusted files): more
  // than ~1000 steps per character (catastrophic backtracking) or a recursion deeper than 4000
  // levels throws InvalidInput naming the pattern, instead of hanging or overflowing the stack.
  void find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& matches) const;

  const std::string& pattern() const { return pattern_; }

  struct Node;

 private:
  std::string pattern_;
  std::unique_ptr<Node> root_;
};

}  // namespace memembed::text
