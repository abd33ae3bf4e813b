#include "bpe.h"

#include "unicode.h"

#include "memembed/error.h"

#include <fmt/format.h>

#include <mutex>
#include <queue>
#include <shared_mutex>

namespace memembed::text {

class Bpe::Cache {
 public:
  bool lookup(std::string_view word, std::vector<TokenId>& out) const {
    std::shared_lock lock(mutex_);
    auto it = entries_.find(std::string(word));
    if (it == entries_.end()) return false;
    out.insert(out.end(), it->second.begin(), it->second.end());
    return true;
  }
  void insert(std::string_view word, const TokenId* ids, size_t count) {
    std::unique_lock lock(mutex_);
    // Like Hugging Face's cache this stops growing when full instead of evicting: the words seen
    // first in a workload are the frequent ones.
    if (entries_.size() >= kCapacity) return;
    entries_.emplace(std::string(word), std::vector<TokenId>(ids, ids + count));
  }

  static constexpr size_t kCapacity = 10000;
  static constexpr size_t kMaxWordBytes = 128;

 private:
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, std::vector<TokenId>> entries_;
};

Bpe::Bpe(Vocab vocab, const std::vector<std::pair<std::string, std::string>>& merges, BpeConfig config)
    : vocab_(std::move(vocab)), config_(std::move(config)), cache_(std::make_unique<Cache>()) {
  if (config_.unk_token) unk_id_ = vocab_.find(*config_.unk_token);
  for (int b = 0; b < 256; ++b) {
    auto id = vocab_.find(fmt::format("<0x{:02X}>", b));
    byte_tokens_[b] = id ? *id : -1;
  }
  const size_t prefix_length =
      config_.continuing_subword_prefix ? config_.continuing_subword_prefix->size() : 0;
  merges_.reserve(merges.size() * 2);
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    auto left_id = vocab_.find(left);
    auto right_id = vocab_.find(right);
    if (!left_id || !right_id) {
      throw invalid_input("BPE merge #{} \"{} {}\": \"{}\" is not in the vocabulary", rank, left,
                          right, left_id ? right : left);
    }
    if (right.size() < prefix_length) {
      throw invalid_input("BPE merge #{} \"{} {}\": the right part is shorter than the continuing "
                          "subword prefix", rank, left, right);
    }
    const std::string merged = left + right.substr(prefix_length);
    auto merged_id = vocab_.find(merged);
    if (!merged_id) {
      throw invalid_input("BPE merge #{} \"{} {}\": the result \"{}\" is not in the vocabulary",
                          rank, left, right, merged);
    }
    // A pair listed twice keeps its last rank, as Hugging Face's map construction does.
    merges_[pair_key(*left_id, *right_id)] = Merge{static_cast<uint32_t>(rank), *merged_id};
  }
}

Bpe::~Bpe() = default;

void Bpe::tokenize(std::string_view word, std::vector<TokenId>& out) const {
  if (word.empty()) return;
  if (config_.ignore_merges) {
    if (auto id = vocab_.find(word)) {
      out.push_back(*id);
      return;
    }
  }
  const bool cacheable = word.size() <= Cache::kMaxWordBytes;
  if (cacheable && cache_->lookup(word, out)) return;
  const size_t mark = out.size();
  merge_word(word, out);
  if (cacheable) cache_->insert(word, out.data() + mark, out.size() - mark);
}

void Bpe::merge_word(std::string_view word, std::vector<TokenId>& out) const {
  struct Symbol {
    TokenId id;
    int prev;
    int next;
    uint32_t length;  // bytes of the word covered; 0 once merged into its left neighbour
  };
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  auto add = [&](TokenId id, size_t length) {
    const int index = static_cast<int>(symbols.size());
    symbols.push_back(Symbol{id, index - 1, index + 1, static_cast<uint32_t>(length)});
  };

  // An unknown character waiting to be emitted, so that fuse_unk can grow it.
  bool pending_unk = false;
  size_t pending_unk_length = 0;
  auto need_unk = [&] {
    if (!unk_id_) {
      throw invalid_input("BPE: the unknown token \"{}\" is not in the vocabulary",
                          *config_.unk_token);
    }
  };
  std::string scratch;
  for (size_t i = 0; i < word.size();) {
    const size_t length = unicode::sequence_length(static_cast<unsigned char>(word[i]));
    const std::string_view character = word.substr(i, length);
    const bool first = i == 0;
    const bool last = i + length >= word.size();
    i += length;

    std::string_view key = character;
    const bool with_prefix = !first && config_.continuing_subword_prefix &&
                             !config_.continuing_subword_prefix->empty();
    const bool with_suffix =
        last && config_.end_of_word_suffix && !config_.end_of_word_suffix->empty();
    if (with_prefix || with_suffix) {
      scratch.clear();
      if (with_prefix) scratch += *config_.continuing_subword_prefix;
      scratch += character;
      if (with_suffix) scratch += *config_.end_of_word_suffix;
      key = scratch;
    }

    if (auto id = vocab_.find(key)) {
      if (pending_unk) {
        add(*unk_id_, pending_unk_length);
        pending_unk = false;
      }
      add(*id, character.size());
      continue;
    }
    if (config_.byte_fallback) {
      bool all_bytes = true;
      for (char byte : key) all_bytes = all_bytes && byte_tokens_[static_cast<unsigned char>(byte)] >= 0;
      if (all_bytes) {
        // As in Hugging Face, a pending unknown token is not flushed before byte pieces.
        for (char byte : key) add(byte_tokens_[static_cast<unsigned char>(byte)], 1);
        continue;
      }
    }
    if (config_.unk_token) {
      if (pending_unk && config_.fuse_unk) {
        pending_unk_length += character.size();
      } else {
        if (pending_unk) add(*unk_id_, pending_unk_length);
        need_unk();
        pending_unk = true;
        pending_unk_length = character.size();
      }
    }
    // Without an unknown token the character is dropped, as Hugging Face does.
  }
  if (pending_unk) add(*unk_id_, pending_unk_length);
  if (symbols.empty()) return;
  symbols.back().next = -1;

  struct Candidate {
    uint32_t rank;
    int position;
    TokenId result;
    bool operator<(const Candidate& other) const {  // max-heap order: best = lowest rank, then position
      if (rank != other.rank) return rank > other.rank;
      return position > other.position;
    }
  };
  std::priority_queue<Candidate> queue;
  auto consider = [&](int left) {
    const int right = symbols[left].next;
    if (right < 0) return;
    auto it = merges_.find(pair_key(symbols[left].id, symbols[right].id));
    if (it != merges_.end()) queue.push(Candidate{it->second.rank, left, it->second.result});
  };
  for (int i = 0; i + 1 < static_cast<int>(symbols.size()); ++i) consider(i);

  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.position];
    if (left.length == 0 || left.next < 0) continue;
    const Symbol right = symbols[left.next];
    // The entry is stale when either side changed since it was queued.
    auto it = merges_.find(pair_key(left.id, right.id));
    if (it == merges_.end() || it->second.result != top.result) continue;

    symbols[left.next].length = 0;
    left.id = top.result;
    left.length += right.length;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.position;
    if (left.prev >= 0) consider(left.prev);
    consider(top.position);
  }
  for (const Symbol& symbol : symbols) {
    if (symbol.length != 0) out.push_back(symbol.id);
  }
}

}  // namespace memembed::text
