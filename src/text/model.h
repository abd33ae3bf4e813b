// The subword model at the heart of a tokenizer.json pipeline: it turns one pre-tokenized word
// into ids (WordPiece, BPE).
#pragma once

#include "memembed/text.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace memembed::text {

class Model {
 public:
  virtual ~Model() = default;
  // Appends the ids of `word` to `out`.
  virtual void tokenize(std::string_view word, std::vector<TokenId>& out) const = 0;
  virtual std::optional<TokenId> token_to_id(std::string_view token) const = 0;
  virtual const std::string* id_to_token(TokenId id) const = 0;
  virtual size_t vocab_size() const = 0;
};

}  // namespace memembed::text
