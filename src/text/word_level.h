// WordLevel: each pre-tokenized word is one vocabulary entry, or the unknown token.
#pragma once

#include "model.h"
#include "vocab.h"

namespace memembed::text {

class WordLevel final : public Model {
 public:
  // Throws InvalidInput when the unknown token is not in the vocabulary.
  WordLevel(Vocab vocab, const std::string& unk_token);

  void tokenize(std::string_view word, std::vector<TokenId>& out) const override {
    auto id = vocab_.find(word);
    out.push_back(id ? *id : unk_id_);
  }
  std::optional<TokenId> token_to_id(std::string_view token) const override { return vocab_.find(token); }
  const std::string* id_to_token(TokenId id) const override { return vocab_.token(id); }
  size_t vocab_size() const override { return vocab_.size(); }

 private:
  Vocab vocab_;
  TokenId unk_id_;
};

}  // namespace memembed::text
