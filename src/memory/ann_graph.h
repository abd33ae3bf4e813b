// An HNSW graph (hnswlib, Debian's libhnswlib-dev) over one vector set, labelled by row slot, with
// a filtered search: hnswlib 0.6 has no filter functor, so the layer-0 beam search is done here
// over its graph - every node is traversed, only admitted ones enter the results, and the search
// goes on until `ef` admitted nodes are found or the graph is exhausted (so it never returns fewer
// than exist when it runs to the end). Distances are 1 - retrieval::dot, the scores exact search gives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

namespace memembed::memory {

struct AnnParameters {
  size_t m = 16;                 // links per node (32 on the bottom layer)
  size_t ef_construction = 100;  // beam width while inserting
  size_t ef_search = 128;        // beam width while searching (at least k)
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
  size_t size() const;

  // Up to `k` admitted slots nearest to `query`, nearest first (slot, 1 - dot). Concurrent
  // searches are safe.
  std::vector<std::pair<uint32_t, float>> search(const float* query, size_t k,
                                                 const std::function<bool(uint32_t)>& admitted) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace memembed::memory
