// The attributes a Filter looks at, for every memory of the store, held in memory by slot number.
// Slots are dense small integers (freed ones are reused) that the lexical and vector indexes key
// their postings and vectors by, so a filter is one array lookup per candidate inside a search.
#pragma once

#include "memembed/memory.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace memembed::memory {

class MemoryRows;

// A Filter resolved against the rows' interned strings: admits() is a few integer comparisons.
class RowFilter {
 public:
  RowFilter(const MemoryRows& rows, const Filter& filter);
  bool matches_nothing() const { return nothing_; }
  bool admits(uint32_t slot) const;

 private:
  const MemoryRows& rows_;
  const Filter& filter_;
  bool nothing_ = false;
  std::optional<uint32_t> agent_, excluded_;
  std::vector<uint32_t> namespaces_, tags_;
  unsigned categories_ = 0;  // bit per Category; 0 = any
};

class MemoryRows {
 public:
  static constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();

  // The memory's slot (kept when it already has one) with its attributes set from `entry`.
  uint32_t upsert(const MemoryEntry& entry);
  // The freed slot, or kNone when the id is unknown.
  uint32_t remove(const std::string& id);
  void set_shared(const std::string& id, bool shared);

  uint32_t slot(const std::string& id) const;  // kNone when absent
  const std::string& id(uint32_t slot) const { return rows_[slot].id; }
  bool alive(uint32_t slot) const { return slot < attributes_.size() && attributes_[slot].alive; }
  Timestamp created_at(uint32_t slot) const { return attributes_[slot].created_at; }
  size_t slots() const { return rows_.size(); }  // slot numbers are below this
  size_t size() const { return by_id_.size(); }

 private:
  friend class RowFilter;
  struct Row {
    std::string id;
    std::vector<uint32_t> tags;  // sorted
  };
  // What most filters look at, 32 bytes a slot apart from the rest: a filter checked on a
  // random slot inside a search costs one cache line.
  struct alignas(32) Attributes {
    Timestamp created_at = 0;
    Timestamp expires_at = 0;  // INT64_MAX: never
    uint32_t agent = 0;
    uint32_t namespace_ = 0;
    Category category = Category::Episodic;
    bool shared = false;
    bool alive = false;
  };
  uint32_t intern(const std::string& text);
  std::optional<uint32_t> lookup(const std::string& text) const;  // nullopt: never seen

  std::vector<Row> rows_;                // by slot
  std::vector<Attributes> attributes_;  // by slot
  std::vector<uint32_t> free_;
  std::unordered_map<std::string, uint32_t> by_id_;
  std::unordered_map<std::string, uint32_t> strings_;
};

template <typename Score>
struct ScoredSlot {
  uint32_t slot;
  Score score;
};

// The best `k` slots offered so far: score descending, memory id ascending on ties (the order
// every search returns).
template <typename Score>
class TopSlots {
 public:
  TopSlots(const MemoryRows& rows, size_t k) : k_(k), better_{&rows} {}
  // Whether it is kept (for now).
  bool offer(uint32_t slot, Score score) {
    const ScoredSlot<Score> hit{slot, score};
    if (heap_.size() < k_) {
      heap_.push_back(hit);
      std::push_heap(heap_.begin(), heap_.end(), better_);
      return true;
    }
    if (k_ == 0 || !better_(hit, heap_.front())) return false;
    std::pop_heap(heap_.begin(), heap_.end(), better_);
    heap_.back() = hit;
    std::push_heap(heap_.begin(), heap_.end(), better_);
    return true;
  }
  bool full() const { return heap_.size() == k_; }
  Score worst() const { return heap_.front().score; }
  std::vector<ScoredSlot<Score>> take() {  // best first
    std::sort_heap(heap_.begin(), heap_.end(), better_);
    return std::move(heap_);
  }

 private:
  struct Better {
    const MemoryRows* rows;
    bool operator()(const ScoredSlot<Score>& a, const ScoredSlot<Score>& b) const {
      if (a.score != b.score) return a.score > b.score;
      return rows->id(a.slot) < rows->id(b.slot);
    }
  };
  size_t k_;
  Better better_;
  std::vector<ScoredSlot<Score>> heap_;  // a heap under better_: the worst kept at the front
};

}  // namespace memembed::memory
