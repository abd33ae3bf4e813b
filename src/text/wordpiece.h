// WordPiece (BERT): greedy longest-match-first over a word, continuation pieces carry a prefix
// ("##"); a word with an unmatchable remainder, or longer than max_input_chars_per_word
// characters, becomes the unknown token as a whole.
#pragma once

#include "model.h"
#include "vocab.h"

#include <string>
#include <unordered_map>

namespace memembed::text {

struct WordPieceConfig {
  std::string unk_token = "[UNK]";
  std::string continuing_subword_prefix = "##";
  size_t max_input_chars_per_word = 100;
};

class WordPiece final : public Model {
 public:
  // Throws InvalidInput when the unknown token is not in the vocabulary.
  WordPiece(Vocab vocab, WordPieceConfig config);

  void tokenize(std::string_view word, std::vector<TokenId>& out) const override;
  std::optional<TokenId> token_to_id(std::string_view token) const override { return vocab_.find(token); }
  const std::string* id_to_token(TokenId id) const override { return vocab_.token(id); }
  size_t vocab_size() const override { return vocab_.size(); }

 private:
  Vocab vocab_;
  WordPieceConfig config_;
  TokenId unk_id_;
  // Continuation pieces keyed by their text after the prefix, so a lookup needs no concatenation.
  std::unordered_map<std::string_view, TokenId> continuations_;
};

}  // namespace memembed::text
