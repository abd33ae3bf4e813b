// A token vocabulary: token string <-> id, looked up by string_view without allocating.
#pragma once

#include "memembed/text.h"

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace memembed::text {

class Vocab {
 public:
  Vocab() = default;
  // `entries` may leave ids unused; a token listed twice keeps its last id.
  explicit Vocab(std::vector<std::pair<std::string, TokenId>> entries);
  Vocab(const Vocab&) = delete;  // the index points into tokens_
  Vocab& operator=(const Vocab&) = delete;
  Vocab(Vocab&&) = default;
  Vocab& operator=(Vocab&&) = default;

  std::optional<TokenId> find(std::string_view token) const {
    auto it = index_.find(token);
    if (it == index_.end()) return std::nullopt;
    return it->second;
  }
  // nullptr for an id no token has.
  const std::string* token(TokenId id) const {
    if (id < 0 || static_cast<size_t>(id) >= tokens_.size() || !present_[id]) return nullptr;
    return &tokens_[id];
  }
  size_t size() const { return size_; }
  // One past the largest id.
  size_t id_limit() const { return tokens_.size(); }

 private:
  std::vector<std::string> tokens_;
  std::vector<bool> present_;
  std::unordered_map<std::string_view, TokenId> index_;
  size_t size_ = 0;
};

}  // namespace memembed::text
