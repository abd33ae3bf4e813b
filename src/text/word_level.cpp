#include "word_level.h"

#include "memembed/error.h"

namespace memembed::text {

WordLevel::WordLevel(Vocab vocab, const std::string& unk_token) : vocab_(std::move(vocab)) {
  auto unk = vocab_.find(unk_token);
  if (!unk) throw invalid_input("WordLevel: the unknown token \"{}\" is not in the vocabulary", unk_token);
  unk_id_ = *unk;
}

}  // namespace memembed::text
