// Pre-tokenizers: split normalized text into the words the model sees (tokenizer.json
// "pre_tokenizer"). Empty pieces are dropped, as Hugging Face does.
#pragma once

#include "json_fields.h"

#include <memory>
#include <string>
#include <vector>

namespace memembed::text {

struct Piece {
  std::string text;
  bool at_start = false;  // begins at the very start of the input (Metaspace "first" scheme)
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `pieces` with their splits, in order.
  virtual void pre_tokenize(std::vector<Piece>& pieces) const = 0;
};

// From the tokenizer.json object (BertPreTokenizer, ByteLevel, Split, Sequence, Whitespace,
// WhitespaceSplit, Metaspace, Punctuation, Digits, CharDelimiterSplit). Null JSON gives nullptr.
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Json& config, const JsonPlace& place);

std::unique_ptr<PreTokenizer> make_bert_pre_tokenizer();
std::unique_ptr<PreTokenizer> make_byte_level_pre_tokenizer(bool add_prefix_space, bool use_regex);

}  // namespace memembed::text
