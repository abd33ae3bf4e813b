// Tokenizers described by a Hugging Face tokenizer.json: added tokens -> normalizer ->
// pre-tokenizer -> model (WordPiece, BPE, WordLevel) -> truncation and post-processor; decoding
// through the file's decoder.
#pragma once

#include "memembed/json_io.h"
#include "memembed/text.h"

#include <filesystem>
#include <memory>
#include <optional>

namespace memembed::text {

struct TokenizerJsonPadding {
  std::optional<TokenId> pad_id;
  std::optional<PaddingSide> side;
};

// Reads and validates `file`; throws NotFound, InvalidInput (malformed JSON with the byte offset,
// a bad field with its JSON path) or Unsupported (unknown component types, with the known ones).
std::unique_ptr<Tokenizer> load_tokenizer_json(const std::filesystem::path& file,
                                               TokenizerJsonPadding* padding = nullptr);

// Same from an already parsed document; `name` is used in error messages.
std::unique_ptr<Tokenizer> make_tokenizer_from_json(const Json& document, const std::string& name,
                                                    TokenizerJsonPadding* padding = nullptr);

}  // namespace memembed::text
