// Byte-pair encoding as Hugging Face `tokenizers` runs it: a word starts as one symbol per
// character (optionally with continuing-subword prefix / end-of-word suffix, byte fallback and
// unknown-token fusing), then adjacent pairs merge, lowest merge rank first and leftmost first
// among equals, until no listed pair remains.
#pragma once

#include "model.h"
#include "vocab.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace memembed::text {

struct BpeConfig {
  std::optional<std::string> unk_token;
  std::optional<std::string> continuing_subword_prefix;
  std::optional<std::string> end_of_word_suffix;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
};

class Bpe final : public Model {
 public:
  // `merges` in rank order. Throws InvalidInput naming the merge whose parts or result are not
  // in the vocabulary, or an unknown token that is not in it.
  Bpe(Vocab vocab, const std::vector<std::pair<std::string, std::string>>& merges, BpeConfig config);
  ~Bpe() override;

  void tokenize(std::string_view word, std::vector<TokenId>& out) const override;
  std::optional<TokenId> token_to_id(std::string_view token) const override { return vocab_.find(token); }
  const std::string* id_to_token(TokenId id) const override { return vocab_.token(id); }
  size_t vocab_size() const override { return vocab_.size(); }

 private:
  struct Merge {
    uint32_t rank;
    TokenId result;
  };
  static uint64_t pair_key(TokenId left, TokenId right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  void merge_word(std::string_view word, std::vector<TokenId>& out) const;

  Vocab vocab_;
  BpeConfig config_;
  std::optional<TokenId> unk_id_;
  std::unordered_map<uint64_t, Merge> merges_;
  TokenId byte_tokens_[256];  // "<0xNN>" ids for byte fallback, -1 where absent

  // Recently seen words and their ids; shared by all threads using this tokenizer.
  class Cache;
  std::unique_ptr<Cache> cache_;
};

}  // namespace memembed::text
