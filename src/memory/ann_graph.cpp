#include "ann_graph.h"

#include "memembed/retrieval.h"

// hnswlib's own distance kernels are not used (ours dispatch at run time and give exact search's
// bits); without this it also defines non-inline CPU-detection functions in its header.
#define NO_MANUAL_VECTORIZATION
#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <queue>

namespace memembed::memory {

namespace {

class CosineSpace : public hnswlib::SpaceInterface<float> {
 public:
  explicit CosineSpace(size_t dims) : dims_(dims) {}
  size_t get_data_size() override { return dims_ * sizeof(float); }
  hnswlib::DISTFUNC<float> get_dist_func() override { return &distance; }
  void* get_dist_func_param() override { return &dims_; }

 private:
  static float distance(const void* a, const void* b, const void* dims) {
    return 1.0f - retrieval::dot(static_cast<const float*>(a), static_cast<const float*>(b),
                                 *static_cast<const size_t*>(dims));
  }
  size_t dims_;
};

}  // namespace

struct AnnGraph::Impl {
  CosineSpace space;
  AnnParameters parameters;
  hnswlib::HierarchicalNSW<float> graph;
  size_t live = 0;
  Impl(size_t dims, size_t capacity, AnnParameters p)
      : space(dims), parameters(p), graph(&space, std::max<size_t>(capacity, 16), p.m, p.ef_construction) {}
};

AnnGraph::AnnGraph(size_t dims, size_t capacity, AnnParameters parameters)
    : impl_(std::make_unique<Impl>(dims, capacity, parameters)) {}
AnnGraph::~AnnGraph() = default;

size_t AnnGraph::size() const { return impl_->live; }

void AnnGraph::add(uint32_t slot, const float* vector) {
  auto& g = impl_->graph;
  auto existing = g.label_lookup_.find(slot);
  const bool known = existing != g.label_lookup_.end();
  if (!known && g.cur_element_count >= g.max_elements_) g.resizeIndex(g.max_elements_ * 2);
  if (!known || g.isMarkedDeleted(existing->second)) ++impl_->live;
  g.addPoint(vector, slot);
}

void AnnGraph::remove(uint32_t slot) {
  auto& g = impl_->graph;
  auto existing = g.label_lookup_.find(slot);
  if (existing == g.label_lookup_.end() || g.isMarkedDeleted(existing->second)) return;
  g.markDelete(slot);
  --impl_->live;
}

std::vector<std::pair<uint32_t, float>> AnnGraph::search(const float* query, size_t k,
                                                         const std::function<bool(uint32_t)>& admitted) const {
  using Node = std::pair<float, hnswlib::tableint>;
  const auto& g = impl_->graph;
  if (g.cur_element_count == 0 || k == 0) return {};
  auto distance = [&](hnswlib::tableint id) { return g.fstdistfunc_(query, g.getDataByInternalId(id), g.dist_func_param_); };

  // Greedy descent through the upper layers, unfiltered: they only find a good entry point.
  hnswlib::tableint entry = g.enterpoint_node_;
  float entry_distance = distance(entry);
  for (int level = g.maxlevel_; level > 0; --level) {
    for (bool moved = true; moved;) {
      moved = false;
      hnswlib::linklistsizeint* links = g.get_linklist(entry, level);
      const int count = g.getListCount(links);
      const auto* neighbours = reinterpret_cast<const hnswlib::tableint*>(links + 1);
      for (int i = 0; i < count; ++i) {
        const float d = distance(neighbours[i]);
        if (d < entry_distance) {
          entry_distance = d;
          entry = neighbours[i];
          moved = true;
        }
      }
    }
  }

  // Beam search on layer 0: `frontier` (nearest first) is traversed whatever the filter says;
  // `found` keeps the `ef` nearest admitted, live nodes.
  const size_t ef = std::max(impl_->parameters.ef_search, k);
  auto counts = [&](hnswlib::tableint id) { return !g.isMarkedDeleted(id) && admitted(static_cast<uint32_t>(g.getExternalLabel(id))); };
  std::priority_queue<Node, std::vector<Node>, std::greater<Node>> frontier;
  std::priority_queue<Node> found;
  hnswlib::VisitedList* visited = g.visited_list_pool_->getFreeVisitedList();
  const hnswlib::vl_type mark = visited->curV;
  visited->mass[entry] = mark;
  frontier.emplace(entry_distance, entry);
  if (counts(entry)) found.emplace(entry_distance, entry);
  while (!frontier.empty()) {
    const Node nearest = frontier.top();
    if (found.size() >= ef && nearest.first > found.top().first) break;
    frontier.pop();
    hnswlib::linklistsizeint* links = g.get_linklist0(nearest.second);
    const int count = g.getListCount(links);
    const auto* neighbours = reinterpret_cast<const hnswlib::tableint*>(links + 1);
    for (int i = 0; i < count; ++i) {
      const hnswlib::tableint id = neighbours[i];
      if (visited->mass[id] == mark) continue;
      visited->mass[id] = mark;
      const float d = distance(id);
      if (found.size() < ef || d < found.top().first) {
        frontier.emplace(d, id);
        if (counts(id)) {
          found.emplace(d, id);
          if (found.size() > ef) found.pop();
        }
      }
    }
  }
  g.visited_list_pool_->releaseVisitedList(visited);

  while (found.size() > k) found.pop();
  std::vector<std::pair<uint32_t, float>> out(found.size());
  for (size_t i = out.size(); i-- > 0;) {
    out[i] = {static_cast<uint32_t>(g.getExternalLabel(found.top().second)), found.top().first};
    found.pop();
  }
  return out;
}

}  // namespace memembed::memory
