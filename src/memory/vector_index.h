// The dense index of one vector set, derived from the database and held in memory: every vector
// by row slot, searched exactly by a blocked SIMD scan (retrieval::dot_rows) with the filter
// checked on each row before its similarity counts - and, once the set holds `threshold` vectors,
// an HNSW graph (AnnGraph) that answers instead, with the filter inside its search. A filter that
// admits too small a share of the set for the graph (`kExactBelowShare`, estimated from a sample
// of rows) goes to the exact scan, as does a graph search that finds fewer than asked.
//
// Locking: the owner guards the index with one shared_mutex - searches hold it shared, changes
// exclusively. The graph is built in a background thread (when `background`; else at once, in
// the call that crosses the threshold) from the vectors, taking the lock shared in short spells;
// changes made meanwhile are noted and replayed under the exclusive lock before the graph serves.
#pragma once

#include "ann_graph.h"
#include "memembed/memory.h"
#include "memory_rows.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <thread>
#include <vector>

namespace memembed::memory {

struct AnnOptions {
  size_t threshold = 0;  // vectors before the graph is built; 0 = never
  AnnParameters parameters;
  bool background = true;
};

class VectorIndex {
 public:
  static constexpr double kExactBelowShare = 0.05;

  VectorIndex(size_t dims, AnnOptions options, std::shared_mutex& guard);
  ~VectorIndex();  // stops a running build; must not be destroyed while holding `guard`
  VectorIndex(const VectorIndex&) = delete;
  VectorIndex& operator=(const VectorIndex&) = delete;

  size_t dims() const { return dims_; }
  size_t size() const { return count_; }
  bool contains(uint32_t slot) const { return slot < present_.size() && present_[slot]; }
  bool graph_serving() const { return graph_ != nullptr; }

  void put(uint32_t slot, const float* vector);
  void remove(uint32_t slot);  // no-op when absent

  using Hit = ScoredSlot<float>;
  // The best `k` admitted slots by dot product with `query`, score descending, id ascending on ties.
  std::vector<Hit> search(const float* query, const RowFilter& filter, const MemoryRows& rows, size_t k) const;
  std::vector<Hit> exact_search(const float* query, const RowFilter& filter, const MemoryRows& rows, size_t k) const;

 private:
  const float* vector(uint32_t slot) const { return values_.data() + static_cast<size_t>(slot) * dims_; }
  void maybe_build_graph();
  // Builds the graph from the vectors; `locked`: the caller holds `guard_` exclusively (or the
  // index is not shared yet), else the lock is taken here in short spells.
  void build_graph(bool locked);

  size_t dims_;
  AnnOptions options_;
  std::shared_mutex& guard_;
  std::vector<float> values_;  // slot-major, dims_ per slot
  std::vector<bool> present_;
  size_t count_ = 0;
  std::unique_ptr<AnnGraph> graph_;  // serving, kept in step with every change
  bool building_ = false;
  std::vector<uint32_t> changed_while_building_;
  std::atomic<bool> stop_{false};
  std::thread builder_;
};

}  // namespace memembed::memory
