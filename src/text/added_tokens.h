// Added tokens: strings matched in the input before the model sees it ([CLS], <|endoftext|>,
// GPT-NeoX's whitespace runs, ...). Matching is leftmost-longest, on the raw text for tokens with
// normalized=false and on the normalized text for the others, honouring single_word, lstrip and
// rstrip as Hugging Face's AddedVocabulary does.
#pragma once

#include "memembed/text.h"

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace memembed::text {

struct AddedToken {
  TokenId id = 0;
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
  bool special = true;
  // What decoding shows: the content as the normalizer rewrites it for normalized tokens (Hugging
  // Face decodes those from their normalized form), else the content itself. Set by AddedVocabulary.
  std::string decoded;
};

class Normalizer;

class AddedVocabulary {
 public:
  // A piece of the input: either text still to tokenize, or a matched token.
  struct Split {
    std::string_view text;
    std::optional<TokenId> id;
  };

  AddedVocabulary() = default;
  // `normalizer` (may be null) is applied to the content of normalized tokens, which are then
  // looked for in normalized text.
  AddedVocabulary(std::vector<AddedToken> tokens, const Normalizer* normalizer);

  // Splits raw text around the tokens that match before normalization.
  void split_raw(std::string_view text, std::vector<Split>& out) const { raw_.split(text, tokens_, out); }
  // Splits normalized text around the tokens that match after normalization.
  void split_normalized(std::string_view text, std::vector<Split>& out) const {
    normalized_.split(text, tokens_, out);
  }

  bool empty() const { return tokens_.empty(); }
  const std::vector<AddedToken>& tokens() const { return tokens_; }
  const AddedToken* find_id(TokenId id) const;
  const AddedToken* find_content(std::string_view content) const;

 private:
  // A byte trie over the patterns of one matching pass.
  class Matcher {
   public:
    void add(std::string_view pattern, size_t token_index);
    void split(std::string_view text, const std::vector<AddedToken>& tokens, std::vector<Split>& out) const;

   private:
    struct Node {
      std::vector<std::pair<unsigned char, int>> children;  // sorted by byte
      int token = -1;                                       // index into tokens_, -1 if none
    };
    int child(int node, unsigned char byte) const;
    std::vector<Node> nodes_{Node{}};
    bool first_bytes_[256] = {};
  };

  std::vector<AddedToken> tokens_;
  Matcher raw_;
  Matcher normalized_;
  std::unordered_map<TokenId, size_t> by_id_;
  std::unordered_map<std::string, size_t> by_content_;
};

}  // namespace memembed::text
