// The dense index of one vector set, derived from the database and kept in memory: every vector
// with the memory attributes a Filter looks at, so the filter is applied to each row BEFORE its
// similarity counts (exact search; a query matching one memory in 100,000 still finds it).
#pragma once

#include "memembed/memory.h"

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace memembed::memory {

class VectorIndex {
 public:
  explicit VectorIndex(size_t dims) : dims_(dims) {}

  size_t dims() const { return dims_; }
  size_t size() const { return by_id_.size(); }
  bool contains(const std::string& id) const { return by_id_.count(id) != 0; }

  // Inserts or replaces the memory's vector and attributes.
  void upsert(const MemoryEntry& entry, const float* vector);
  // New attributes for a memory already indexed (metadata change); no-op when absent.
  void update_attributes(const MemoryEntry& entry);
  void set_shared(const std::string& id, bool shared);
  void remove(const std::string& id);

  // The best `k` rows satisfying `filter` by dot product with `query`.
  std::vector<Candidate> search(const Filter& filter, const float* query, size_t k) const;

 private:
  struct Row {
    std::string id;
    uint32_t agent = 0;
    uint32_t namespace_ = 0;
    Category category = Category::Episodic;
    std::vector<uint32_t> tags;  // sorted
    Timestamp created_at = 0;
    Timestamp expires_at = 0;    // INT64_MAX: never
    bool shared = false;
    bool alive = false;
  };
  uint32_t intern(const std::string& text);
  // nullopt: the text was never seen, so nothing can match it.
  std::optional<uint32_t> lookup(const std::string& text) const;
  void assign(Row& row, const MemoryEntry& entry);

  size_t dims_;
  std::vector<Row> rows_;
  std::vector<float> values_;  // rows_.size() x dims_
  std::vector<size_t> free_rows_;
  std::unordered_map<std::string, size_t> by_id_;
  std::unordered_map<std::string, uint32_t> strings_;
};

}  // namespace memembed::memory
