// The Hugging Face side files of a model directory that shape tokenization:
// tokenizer_config.json (tokenizer class, add_bos_token / add_eos_token, padding side, special
// tokens, added_tokens_decoder, T5's extra_ids) and special_tokens_map.json.
#pragma once

#include "added_tokens.h"

#include "memembed/text.h"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace memembed::text {

struct TokenizerConfig {
  std::optional<std::string> tokenizer_class;
  std::optional<bool> add_bos_token;
  std::optional<bool> add_eos_token;
  std::optional<std::string> bos_token, eos_token, unk_token, pad_token, sep_token, cls_token, mask_token;
  std::vector<std::string> additional_special_tokens;
  std::vector<AddedToken> added_tokens;  // added_tokens_decoder, by id
  std::optional<int64_t> extra_ids;
  std::optional<PaddingSide> padding_side;
};

// Reads whichever of the two files exist in `directory` (neither is required). Values in
// special_tokens_map.json take precedence over the same keys in tokenizer_config.json.
TokenizerConfig read_tokenizer_config(const std::filesystem::path& directory);

}  // namespace memembed::text
