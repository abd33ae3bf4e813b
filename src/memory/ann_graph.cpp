#include "ann_graph.h"

#include "memembed/error.h"
#include "memembed/retrieval.h"

// hnswlib's own distance kernels are not used (ours dispatch at run time and give exact search's
// bits); without this it also defines non-inline CPU-detection functions in its header.
#define NO_MANUAL_VECTORIZATION
#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <cstring>
#include <fstream>
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

// Labels of nodes dropped by relabel(): above every slot (slots are 32-bit).
constexpr hnswlib::labeltype kDroppedLabels = hnswlib::labeltype{1} << 40;

struct AnnGraph::Impl {
  CosineSpace space;
  AnnParameters parameters;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> graph;
  size_t live = 0;
  // The search walks the graph on int8 copies of the vectors (a quarter of the memory traffic of
  // hnswlib's float32 ones, which stay for inserts and the final exact ranking) and reads each
  // node's slot from a compact copy (kGone: deleted) instead of the node's record - both by
  // internal id, so a visited node costs one cache miss for its code and none for its label.
  static constexpr uint32_t kGone = UINT32_MAX;
  size_t dims;
  std::vector<int8_t> codes;
  std::vector<float> code_scales;
  std::vector<uint32_t> slots;
  Impl(size_t d, AnnParameters p) : space(d), parameters(p), dims(d) {}

  void grow_to(hnswlib::tableint id) {
    if (slots.size() > id) return;
    slots.resize(std::max<size_t>(graph->max_elements_, id + 1), kGone);
    code_scales.resize(slots.size());
    codes.resize(slots.size() * dims);
  }
  void mirror_slot(hnswlib::tableint id) {
    grow_to(id);
    const hnswlib::labeltype label = graph->getExternalLabel(id);
    slots[id] = graph->isMarkedDeleted(id) || label >= kGone ? kGone : static_cast<uint32_t>(label);
  }
  void mirror(hnswlib::tableint id) {
    mirror_slot(id);
    code_scales[id] = retrieval::quantize_i8(reinterpret_cast<const float*>(graph->getDataByInternalId(id)), dims,
                                             codes.data() + static_cast<size_t>(id) * dims);
  }
  void mirror_all() {
    for (hnswlib::tableint id = 0; id < graph->cur_element_count; ++id) mirror(id);
  }
};

AnnGraph::AnnGraph(size_t dims, size_t capacity, AnnParameters parameters)
    : impl_(std::make_unique<Impl>(dims, parameters)) {
  impl_->graph = std::make_unique<hnswlib::HierarchicalNSW<float>>(&impl_->space, std::max<size_t>(capacity, 16),
                                                                   parameters.m, parameters.ef_construction);
}
AnnGraph::AnnGraph(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AnnGraph::~AnnGraph() = default;

size_t AnnGraph::size() const { return impl_->live; }
size_t AnnGraph::deleted() const { return impl_->graph->cur_element_count - impl_->live; }

bool AnnGraph::holds(uint32_t slot, const float* vector) const {
  const auto& g = *impl_->graph;
  auto node = g.label_lookup_.find(slot);
  return node != g.label_lookup_.end() && !g.isMarkedDeleted(node->second) &&
         std::memcmp(g.getDataByInternalId(node->second), vector, g.data_size_) == 0;
}

void AnnGraph::add(uint32_t slot, const float* vector) {
  auto& g = *impl_->graph;
  auto existing = g.label_lookup_.find(slot);
  const bool known = existing != g.label_lookup_.end();
  if (!known && g.cur_element_count >= g.max_elements_) g.resizeIndex(g.max_elements_ * 2);
  if (!known || g.isMarkedDeleted(existing->second)) ++impl_->live;
  g.addPoint(vector, slot);
  impl_->mirror(g.label_lookup_.at(slot));
}

void AnnGraph::remove(uint32_t slot) {
  auto& g = *impl_->graph;
  auto existing = g.label_lookup_.find(slot);
  if (existing == g.label_lookup_.end() || g.isMarkedDeleted(existing->second)) return;
  g.markDelete(slot);
  impl_->mirror_slot(existing->second);
  --impl_->live;
}

void AnnGraph::save(const std::filesystem::path& file) const {
  impl_->graph->saveIndex(file.string());
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) throw io_error("{}: the HNSW index could not be written", file.string());
}

namespace {

// hnswlib's header, read and checked before hnswlib allocates anything by it (a damaged count
// must not become a huge allocation).
struct SavedHeader {
  size_t offset_level0, max_elements, count, size_per_element, label_offset, offset_data;
  int max_level;
  hnswlib::tableint entry;
  size_t max_m, max_m0, m;
  double mult;
  size_t ef_construction;
};

SavedHeader read_header(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw io_error("{}: cannot open the HNSW index", file.string());
  SavedHeader h{};
  auto field = [&](auto& value) { in.read(reinterpret_cast<char*>(&value), sizeof(value)); };
  field(h.offset_level0), field(h.max_elements), field(h.count), field(h.size_per_element), field(h.label_offset);
  field(h.offset_data), field(h.max_level), field(h.entry), field(h.max_m), field(h.max_m0), field(h.m), field(h.mult);
  field(h.ef_construction);
  if (!in) throw invalid_input("{}: too short for an HNSW index", file.string());
  return h;
}

}  // namespace

std::unique_ptr<AnnGraph> AnnGraph::load(const std::filesystem::path& file, size_t dims, AnnParameters parameters) {
  auto bad = [&](const std::string& why) { return invalid_input("{}: not a usable HNSW index: {}", file.string(), why); };
  const SavedHeader h = read_header(file);
  std::error_code ec;
  const uintmax_t bytes = std::filesystem::file_size(file, ec);
  const size_t links0 = 2 * parameters.m * sizeof(hnswlib::tableint) + sizeof(hnswlib::linklistsizeint);
  const size_t per_element = links0 + dims * sizeof(float) + sizeof(hnswlib::labeltype);
  if (h.m != parameters.m || h.max_m != parameters.m || h.max_m0 != 2 * parameters.m) throw bad("built with another M");
  if (h.offset_level0 != 0 || h.size_per_element != per_element || h.offset_data != links0 ||
      h.label_offset != links0 + dims * sizeof(float)) {
    throw bad("another layout or dimension");
  }
  if (ec || h.count == 0 || h.count > bytes / per_element || h.entry >= h.count || h.max_level < 0 || h.max_level > 64) {
    throw bad("counts out of range");
  }

  auto impl = std::make_unique<Impl>(dims, parameters);
  try {
    impl->graph = std::make_unique<hnswlib::HierarchicalNSW<float>>(&impl->space, file.string(), false, h.count + h.count / 4);
  } catch (const std::exception& e) {
    throw bad(e.what());
  }
  auto& g = *impl->graph;
  // Every link and level in range, so that no later search reads outside the graph.
  g.num_deleted_ = 0;
  for (hnswlib::tableint id = 0; id < g.cur_element_count; ++id) {
    const int levels = g.element_levels_[id];
    if (levels < 0 || levels > g.maxlevel_) throw bad("a node's level is out of range");
    for (int level = 0; level <= levels; ++level) {
      hnswlib::linklistsizeint* links = level == 0 ? g.get_linklist0(id) : g.get_linklist(id, level);
      const size_t count = g.getListCount(links);
      if (count > (level == 0 ? g.maxM0_ : g.maxM_)) throw bad("a node has too many links");
      const auto* neighbours = reinterpret_cast<const hnswlib::tableint*>(links + 1);
      for (size_t i = 0; i < count; ++i) {
        if (neighbours[i] >= g.cur_element_count) throw bad("a link points outside the graph");
      }
    }
    if (g.isMarkedDeleted(id)) ++g.num_deleted_;
  }
  if (g.element_levels_[g.enterpoint_node_] != g.maxlevel_) throw bad("the entry point is not on the top level");
  impl->live = g.cur_element_count - g.num_deleted_;
  impl->mirror_all();
  return std::unique_ptr<AnnGraph>(new AnnGraph(std::move(impl)));
}

void AnnGraph::relabel(const std::function<std::optional<uint32_t>(uint64_t)>& new_slot) {
  auto& g = *impl_->graph;
  g.label_lookup_.clear();
  for (hnswlib::tableint id = 0; id < g.cur_element_count; ++id) {
    const std::optional<uint32_t> slot = new_slot(g.getExternalLabel(id));
    const bool keep = slot && !g.isMarkedDeleted(id) && g.label_lookup_.count(*slot) == 0;
    const hnswlib::labeltype label = keep ? *slot : kDroppedLabels + id;
    g.setExternalLabel(id, label);
    g.label_lookup_[label] = id;
    if (!keep && !g.isMarkedDeleted(id)) g.markDeletedInternal(id);
    impl_->mirror_slot(id);
  }
  impl_->live = g.cur_element_count - g.num_deleted_;
}

std::vector<std::pair<uint32_t, float>> AnnGraph::search(const float* query, size_t k,
                                                         const std::function<bool(uint32_t)>& admitted) const {
  using Node = std::pair<float, hnswlib::tableint>;
  const Impl& impl = *impl_;
  const auto& g = *impl.graph;
  if (g.cur_element_count == 0 || k == 0) return {};
  const size_t dims = impl.dims;
  std::vector<int8_t> query_codes(dims);
  const float query_scale = retrieval::quantize_i8(query, dims, query_codes.data());
  const int8_t* codes = impl.codes.data();
  auto code_of = [&](hnswlib::tableint id) { return codes + static_cast<size_t>(id) * dims; };
  // 1 - dot on the int8 copies: approximate, for the walk only.
  auto distance = [&](hnswlib::tableint id) {
    return 1.0f - query_scale * impl.code_scales[id] * static_cast<float>(retrieval::dot_i8(query_codes.data(), code_of(id), dims));
  };

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
  const size_t ef = std::max(impl.parameters.ef_search, k);
  const uint32_t* slots = impl.slots.data();
  auto counts = [&](hnswlib::tableint id) { return slots[id] != Impl::kGone && admitted(slots[id]); };
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
    // The neighbours' codes lie scattered over memory: ask for all of them before the first
    // distance (the walk is bound by memory latency, not arithmetic).
    for (int i = 0; i < count; ++i) {
      if (visited->mass[neighbours[i]] == mark) continue;
      const int8_t* code = code_of(neighbours[i]);
      for (size_t line = 0; line < dims; line += 64) __builtin_prefetch(code + line);
    }
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

  // The `ef` found ranked again on the float32 vectors: the `k` nearest of them by exact distance.
  std::vector<Node> exact;
  exact.reserve(found.size());
  for (; !found.empty(); found.pop()) {
    const char* data = g.getDataByInternalId(found.top().second);
    for (size_t line = 0; line < g.data_size_; line += 64) __builtin_prefetch(data + line);
    exact.emplace_back(0.0f, found.top().second);
  }
  for (Node& node : exact) node.first = g.fstdistfunc_(query, g.getDataByInternalId(node.second), g.dist_func_param_);
  const size_t kept = std::min(k, exact.size());
  std::partial_sort(exact.begin(), exact.begin() + static_cast<std::ptrdiff_t>(kept), exact.end());
  std::vector<std::pair<uint32_t, float>> out(kept);
  for (size_t i = 0; i < kept; ++i) out[i] = {slots[exact[i].second], exact[i].first};
  return out;
}

}  // namespace memembed::memory
