// What a Split pre-tokenizer or Replace normalizer searches for: a literal string or a regex.
// The GPT-2 pattern and the Llama-3 / Qwen2 family (`\p{N}{1,3}` or `\p{N}`) are recognised by
// their exact text and run by hand-written scanners with identical results; any other regex runs
// on the backtracking engine in regex_engine.h.
#pragma once

#include "json_fields.h"

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace memembed::text {

using Matches = std::vector<std::pair<size_t, size_t>>;

class SplitPattern {
 public:
  virtual ~SplitPattern() = default;
  // Appends the non-overlapping, non-empty matches in `text` (valid UTF-8), left to right.
  virtual void find_all(std::string_view text, Matches& matches) const = 0;
};

std::unique_ptr<SplitPattern> make_literal_pattern(std::string literal);
std::unique_ptr<SplitPattern> make_regex_pattern(std::string_view regex);
// Same as make_regex_pattern but never picks a scanner (tests compare the two).
std::unique_ptr<SplitPattern> make_engine_pattern(std::string_view regex);

// {"String": "..."} or {"Regex": "..."} from a tokenizer.json Split or Replace.
std::unique_ptr<SplitPattern> make_pattern_from_json(const Json& config, const JsonPlace& place);

// The pattern behind the ByteLevel pre-tokenizer's use_regex.
extern const char* const kGpt2Pattern;

}  // namespace memembed::text
