#include "vocab.h"

#include "memembed/error.h"

namespace memembed::text {

namespace {
constexpr size_t kMaxUnusedIds = 1000000;
}  // namespace

Vocab::Vocab(std::vector<std::pair<std::string, TokenId>> entries) {
  TokenId max_id = -1;
  for (const auto& [token, id] : entries) {
    if (id < 0) throw invalid_input("vocabulary: token \"{}\" has negative id {}", token, id);
    max_id = std::max(max_id, id);
  }
  // The table is indexed by id: bound the unused ids a crafted file could make us allocate
  // (found by fuzz_tokenizer_json: one id of 2^31-1 asked for 64 GiB).
  if (static_cast<size_t>(max_id) + 1 > entries.size() + kMaxUnusedIds) {
    throw invalid_input("vocabulary: id {} leaves more than {} ids unused among {} tokens", max_id, kMaxUnusedIds,
                        entries.size());
  }
  // Every string is in place before the index takes views of it: moving a short string would
  // move its characters.
  tokens_.resize(static_cast<size_t>(max_id + 1));
  present_.assign(tokens_.size(), false);
  for (auto& [token, id] : entries) {
    tokens_[id] = std::move(token);
    present_[id] = true;
  }
  index_.reserve(entries.size());
  for (size_t id = 0; id < tokens_.size(); ++id) {
    if (!present_[id]) continue;
    index_[tokens_[id]] = static_cast<TokenId>(id);
    ++size_;
  }
}

}  // namespace memembed::text
