#include "wordpiece.h"

#include "unicode.h"

#include "memembed/error.h"

namespace memembed::text {

WordPiece::WordPiece(Vocab vocab, WordPieceConfig config)
    : vocab_(std::move(vocab)), config_(std::move(config)) {
  auto unk = vocab_.find(config_.unk_token);
  if (!unk) {
    throw invalid_input("WordPiece: the unknown token \"{}\" is not in the vocabulary",
                        config_.unk_token);
  }
  unk_id_ = *unk;
  const std::string& prefix = config_.continuing_subword_prefix;
  for (size_t id = 0; id < vocab_.id_limit(); ++id) {
    const std::string* token = vocab_.token(static_cast<TokenId>(id));
    if (token == nullptr || token->compare(0, prefix.size(), prefix) != 0) continue;
    continuations_.emplace(std::string_view(*token).substr(prefix.size()), static_cast<TokenId>(id));
  }
}

void WordPiece::tokenize(std::string_view word, std::vector<TokenId>& out) const {
  // Character boundaries, so the shrinking search steps back one character at a time.
  std::vector<size_t> bounds;
  bounds.reserve(word.size() + 1);
  for (size_t i = 0; i < word.size();) {
    bounds.push_back(i);
    i += unicode::sequence_length(static_cast<unsigned char>(word[i]));
  }
  bounds.push_back(word.size());
  const size_t chars = bounds.size() - 1;
  if (chars > config_.max_input_chars_per_word) {
    out.push_back(unk_id_);
    return;
  }

  const size_t mark = out.size();
  size_t start = 0;  // index into bounds
  while (start < chars) {
    size_t end = chars;
    std::optional<TokenId> found;
    while (end > start) {
      const std::string_view piece = word.substr(bounds[start], bounds[end] - bounds[start]);
      if (start == 0) {
        found = vocab_.find(piece);
      } else {
        auto it = continuations_.find(piece);
        if (it != continuations_.end()) found = it->second;
      }
      if (found) break;
      --end;
    }
    if (!found) {
      out.resize(mark);
      out.push_back(unk_id_);
      return;
    }
    out.push_back(*found);
    start = end;
  }
}

}  // namespace memembed::text
