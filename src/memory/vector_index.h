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
//
// Persistence (AnnOptions::graph_file set): the graph is saved there after a build and when the
// index is destroyed with changes since, beside a manifest (graph_file + ".json": the vector set's
// identity, parameters, the graph file's size and SHA-256, and the memory id of every slot). On
// open the saved graph is only used when all of that checks out; its nodes are then mapped to the
// current slots by memory id and caught up with the vectors loaded from the database (a node whose
// vector differs is re-inserted, a missing one inserted, one of a deleted memory dropped) - the
// vectors themselves are the watermark, so writes after the save, even ones the save never saw
// (a crash), are repaired. A missing, damaged, foreign or too stale graph is rebuilt instead.
// Files are written to temporaries and renamed, so a crash leaves the old pair or a mismatched
// pair (rejected by the checksum), never a half file that is trusted.
#pragma once

#include "ann_graph.h"
#include "memembed/memory.h"
#include "memory_rows.h"

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <shared_mutex>
#include <thread>
#include <vector>

namespace memembed::memory {

struct AnnOptions {
  size_t threshold = 0;  // vectors before the graph is built; 0 = never
  AnnParameters parameters;
  bool background = true;
  std::filesystem::path graph_file;  // empty: not persisted
  std::string identity;              // of the vector set (model fingerprint, dims): a graph saved for another is not used
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

  // Loading from the database: between begin_loading() and finish_loading() put() builds no
  // graph; finish_loading() uses the saved graph when it checks out (see above), else builds one
  // when the set is large enough. `rows` (the slots' memory ids) must outlive the index.
  void begin_loading() { loading_ = true; }
  void finish_loading(const MemoryRows& rows);
  // The set is dropped: its saved graph is deleted and nothing is saved any more.
  void discard_saved_graph();

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
  // The saved graph, checked and caught up, or nullptr (the reason logged).
  std::unique_ptr<AnnGraph> load_saved_graph();
  // Saves the serving graph (the caller holds `guard_` at least shared, or nothing runs beside).
  void save_graph();

  size_t dims_;
  AnnOptions options_;
  std::shared_mutex& guard_;
  std::vector<float> values_;  // slot-major, dims_ per slot
  std::vector<bool> present_;
  size_t count_ = 0;
  std::unique_ptr<AnnGraph> graph_;  // serving, kept in step with every change
  std::atomic<bool> graph_changed_{false};  // since it was saved or loaded
  const MemoryRows* rows_ = nullptr;        // set by finish_loading(): the graph is persisted
  bool loading_ = false;
  bool building_ = false;
  std::vector<uint32_t> changed_while_building_;
  std::atomic<bool> stop_{false};
  std::thread builder_;
};

}  // namespace memembed::memory
