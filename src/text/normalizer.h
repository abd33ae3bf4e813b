// Normalizers: the text rewrites applied before pre-tokenization (tokenizer.json "normalizer").
#pragma once

#include "json_fields.h"

#include <memory>
#include <string>
#include <string_view>

namespace memembed::text {

class Normalizer {
 public:
  virtual ~Normalizer() = default;

  std::string normalize(std::string_view text) const {
    bool start_moved = false;
    return apply(text, start_moved);
  }
  // Sets `start_moved` when characters at the very start were deleted, so the result no longer
  // begins where the input began (Metaspace's "first" prepend scheme looks at that).
  virtual std::string apply(std::string_view text, bool& start_moved) const = 0;
};

struct BertNormalizerConfig {
  bool clean_text = true;            // drop NUL, U+FFFD and Cc/Cf/Co; whitespace becomes ' '
  bool handle_chinese_chars = true;  // spaces around CJK ideographs
  bool strip_accents = true;         // NFD, then drop non-spacing marks
  bool lowercase = true;
};
std::unique_ptr<Normalizer> make_bert_normalizer(const BertNormalizerConfig& config);

// Builds a normalizer from its tokenizer.json object (BertNormalizer, NFC, NFD, NFKC, NFKD,
// Lowercase, Strip, StripAccents, Replace, Prepend, Nmt, ByteLevel, Sequence). Null JSON gives
// nullptr. Unknown types throw Unsupported listing the known ones.
std::unique_ptr<Normalizer> make_normalizer(const Json& config, const JsonPlace& place);

}  // namespace memembed::text
