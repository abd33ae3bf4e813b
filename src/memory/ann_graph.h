// An HNSW graph (hnswlib, Debian's libhnswlib-dev) over one vector set, labelled by row slot, with
// a filtered search: hnswlib 0.6 has no filter functor, so the layer-0 beam search is done here
// over its graph - every node is traversed, only admitted ones enter the results, and the search
// goes on until `ef` admitted nodes are found or the graph is exhausted (so it never returns fewer
// than exist when it runs to the end). The walk measures distances on int8 copies of the vectors
// (retrieval::quantize_i8; a quarter of float32's memory traffic, which bounds the search), and the
// `ef` found are ranked again on the float32 vectors: results carry 1 - retrieval::dot, the scores
// exact search gives. The copies cost dims bytes (+ a float) per node.
//
// A graph can be saved (hnswlib's file format) and loaded back; loading checks the structure
// (sizes, parameters, every link and level in range) so that a file that is not such a graph is
// an error, never a crash in a later search.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace memembed::memory {

struct AnnParameters {
  size_t m = 16;                 // links per node (32 on the bottom layer)
  size_t ef_construction = 100;  // beam width while inserting
  size_t ef_search = 256;        // beam width while searching (at least k)
};

class AnnGraph {
 public:
  AnnGraph(size_t dims, size_t capacity, AnnParameters parameters);
  ~AnnGraph();
  AnnGraph(const AnnGraph&) = delete;
  AnnGraph& operator=(const AnnGraph&) = delete;

  // Inserts or replaces the vector of `slot` (grows the graph as needed). Not concurrent with
  // anything else on the graph.
  void add(uint32_t slot, const float* vector);
  void remove(uint32_t slot);  // no-op when absent
  size_t size() const;     // live nodes
  size_t deleted() const;  // nodes marked deleted (still traversed)
  // Whether `slot` is a live node holding exactly `vector`.
  bool holds(uint32_t slot, const float* vector) const;

  // Writes the graph to `file` (not atomically: the caller writes to a temporary and renames).
  // Throws Io.
  void save(const std::filesystem::path& file) const;
  // The graph saved in `file`, of `dims`-dim vectors built with `parameters`' m and
  // ef_construction. Throws InvalidInput naming the file when it is not such a graph.
  static std::unique_ptr<AnnGraph> load(const std::filesystem::path& file, size_t dims, AnnParameters parameters);
  // Gives every node the slot `new_slot(old slot)`; nodes it maps to nullopt (memories deleted
  // since the save) are marked deleted under labels no slot uses.
  void relabel(const std::function<std::optional<uint32_t>(uint64_t old_slot)>& new_slot);

  // Up to `k` admitted slots nearest to `query`, nearest first (slot, 1 - dot). Concurrent
  // searches are safe.
  std::vector<std::pair<uint32_t, float>> search(const float* query, size_t k,
                                                 const std::function<bool(uint32_t)>& admitted) const;

 private:
  struct Impl;
  explicit AnnGraph(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace memembed::memory
