// text: turning strings into token ids (and back).
//
// One Tokenizer interface over three algorithms: WordPiece and byte-level BPE read from a Hugging
// Face `tokenizer.json`, and SentencePiece `.model` files through libsentencepiece. A loaded
// tokenizer is immutable and safe to share across threads; per-call scratch lives in each call.
//
// The pipeline per call mirrors Hugging Face `tokenizers`:
//   added/special tokens split out of the raw text -> normalizer -> pre-tokenizer -> model
//   -> truncation (content only; special tokens are kept) -> post-processor (special tokens).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace memembed::text {

using TokenId = int32_t;

struct EncodeOptions {
  bool add_special_tokens = true;
  // Maximum number of ids in the result, special tokens included (0 = no limit). Longer inputs
  // keep their special tokens and lose content tokens from the end (Hugging Face's
  // "longest_first" truncation, right side).
  size_t max_length = 0;
};

struct Encoding {
  std::vector<TokenId> ids;
  bool truncated = false;
  size_t num_tokens_untruncated = 0;  // ids.size() had there been no max_length
};

enum class PaddingSide { Right, Left };

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // `text` must be valid UTF-8 (InvalidInput otherwise).
  virtual Encoding encode(std::string_view text, const EncodeOptions& options = {}) const = 0;
  // Pair encoding (e.g. BERT `[CLS] A [SEP] B [SEP]`) through the post-processor's pair template.
  virtual Encoding encode_pair(std::string_view first, std::string_view second,
                               const EncodeOptions& options = {}) const = 0;
  virtual std::string decode(const std::vector<TokenId>& ids,
                             bool skip_special_tokens = false) const = 0;

  virtual size_t vocab_size() const = 0;
  virtual std::optional<TokenId> token_to_id(std::string_view token) const = 0;
  virtual std::optional<std::string> id_to_token(TokenId id) const = 0;
  // Whether `id` is one of Hugging Face's `all_special_ids` (added tokens marked special,
  // SentencePiece control and unknown pieces). A tokenizer without special tokens says false.
  virtual bool is_special(TokenId id) const { return false; }

  // From tokenizer_config.json / the tokenizer file; defaults are right padding and id 0.
  TokenId pad_token_id() const { return pad_token_id_; }
  PaddingSide padding_side() const { return padding_side_; }
  void set_padding(TokenId pad_id, PaddingSide side) {
    pad_token_id_ = pad_id;
    padding_side_ = side;
  }

 private:
  TokenId pad_token_id_ = 0;
  PaddingSide padding_side_ = PaddingSide::Right;
};

// Loads the tokenizer for `path`, which is either a model directory or a tokenizer file:
//  - a directory with `tokenizer.json` (WordPiece or BPE, picked from `model.type`, or inferred
//    from its fields for early files without `type`),
//  - else a directory with `tokenizer.model` / `spiece.model` (SentencePiece),
//  - or a path to one of those files directly.
// A directory's `tokenizer_config.json` / `special_tokens_map.json` supply padding side, pad token
// and (for SentencePiece) whether BOS/EOS are added. Errors name the file and the field.
// SentencePiece models run through libmemembed_sentencepiece.so, a module built with the project
// and loaded on first use from $MEMEMBED_SENTENCEPIECE_SHIM, next to the executable, or from the
// build tree (libsentencepiece cannot share a process's symbols with libtorch's protobuf).
std::shared_ptr<const Tokenizer> load_tokenizer(const std::filesystem::path& path);

}  // namespace memembed::text
