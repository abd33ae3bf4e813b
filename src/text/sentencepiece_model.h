// SentencePiece `.model` files through libsentencepiece, which applies the model's own
// normaliser spec (nmt_nfkc or identity, dummy prefix, whitespace handling). Special tokens found
// in the text are split out first, as Hugging Face does, and each remaining segment is encoded on
// its own; BOS/EOS come from the directory's tokenizer_config.json.
#pragma once

#include "tokenizer_config.h"

#include "memembed/text.h"

#include <filesystem>
#include <memory>

namespace memembed::text {

// `config` supplies add_bos_token / add_eos_token, the special tokens and added tokens
// (tokenizer class T5Tokenizer appends EOS; without a config, BOS is added when the model
// defines one, else EOS when it defines one, which is T5's convention).
std::unique_ptr<Tokenizer> load_sentencepiece(const std::filesystem::path& file, const TokenizerConfig& config);

}  // namespace memembed::text
