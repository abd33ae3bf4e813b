// The regex engine that runs split patterns from tokenizer.json: input = pattern, NUL, text.
#include "fuzz_target.h"
#include "regex_engine.h"

#include "memembed/json_io.h"

MEMEMBED_FUZZ_TARGET(split_regex) {
  using namespace memembed;
  const size_t separator = input.find('\0');
  if (separator == std::string_view::npos) return;
  const std::string_view text = input.substr(separator + 1);
  if (!is_valid_utf8(text)) return;  // callers validate texts before splitting
  fuzz::refusing_bad_input([&] {
    const text::Regex regex(input.substr(0, separator));
    std::vector<std::pair<size_t, size_t>> matches;
    regex.find_all(text, matches);
  });
}
