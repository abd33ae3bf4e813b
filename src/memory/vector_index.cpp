#include "vector_index.h"

#include "memembed/log.h"
#include "memembed/retrieval.h"

#include <algorithm>
#include <chrono>

namespace memembed::memory {

namespace {

// Rows scored per call of the SIMD kernel in the exact scan.
constexpr size_t kBlock = 256;
// Rows looked at to estimate which share of the set a filter admits.
constexpr size_t kSampleRows = 1024;

}  // namespace

VectorIndex::VectorIndex(size_t dims, AnnOptions options, std::shared_mutex& guard)
    : dims_(dims), options_(options), guard_(guard) {}

VectorIndex::~VectorIndex() {
  stop_ = true;
  if (builder_.joinable()) builder_.join();
}

void VectorIndex::put(uint32_t slot, const float* vector) {
  if (present_.size() <= slot) {
    present_.resize(slot + 1, false);
    values_.resize(present_.size() * dims_);
  }
  std::copy(vector, vector + dims_, values_.data() + static_cast<size_t>(slot) * dims_);
  if (!present_[slot]) ++count_;
  present_[slot] = true;
  if (graph_) graph_->add(slot, vector);
  else if (building_) changed_while_building_.push_back(slot);
  maybe_build_graph();
}

void VectorIndex::remove(uint32_t slot) {
  if (!contains(slot)) return;
  present_[slot] = false;
  --count_;
  if (graph_) graph_->remove(slot);
  else if (building_) changed_while_building_.push_back(slot);
}

void VectorIndex::maybe_build_graph() {
  if (graph_ || building_ || options_.threshold == 0 || count_ < options_.threshold) return;
  building_ = true;
  if (options_.background) builder_ = std::thread([this] { build_graph(false); });
  else build_graph(true);
}

void VectorIndex::build_graph(bool locked) {
  // Runs `work` holding the lock as asked; false when stopped while waiting for it.
  auto holding = [&](bool exclusive, auto&& work) {
    if (locked) {
      work();
      return true;
    }
    while (!(exclusive ? guard_.try_lock() : guard_.try_lock_shared())) {
      if (stop_) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    work();
    if (exclusive) guard_.unlock();
    else guard_.unlock_shared();
    return true;
  };
  try {
    std::unique_ptr<AnnGraph> graph;
    std::vector<uint32_t> slots;
    std::vector<float> chunk;
    size_t next = 0;
    for (bool done = false; !done;) {
      slots.clear();
      chunk.clear();
      const bool held = holding(false, [&] {
        if (!graph) graph = std::make_unique<AnnGraph>(dims_, present_.size() + present_.size() / 4, options_.parameters);
        const size_t end = std::min(present_.size(), next + 1024);
        for (size_t s = next; s < end; ++s) {
          if (!present_[s]) continue;
          slots.push_back(static_cast<uint32_t>(s));
          chunk.insert(chunk.end(), vector(static_cast<uint32_t>(s)), vector(static_cast<uint32_t>(s)) + dims_);
        }
        next = end;
        done = next >= present_.size();
      });
      if (!held) return;
      for (size_t i = 0; i < slots.size(); ++i) {
        if (stop_) return;
        graph->add(slots[i], chunk.data() + i * dims_);
      }
    }
    holding(true, [&] {
      for (uint32_t slot : changed_while_building_) {
        if (contains(slot)) graph->add(slot, vector(slot));
        else graph->remove(slot);
      }
      changed_while_building_.clear();
      graph_ = std::move(graph);
      building_ = false;
    });
  } catch (const std::exception& e) {
    // The exact scan keeps serving; the graph is only an accelerator.
    logger()->warn("building the HNSW index of {} vectors failed ({}); searches stay exact", count_, e.what());
  }
}

std::vector<VectorIndex::Hit> VectorIndex::search(const float* query, const RowFilter& filter, const MemoryRows& rows,
                                                  size_t k) const {
  if (k == 0 || filter.matches_nothing() || count_ == 0) return {};
  if (graph_) {
    const size_t stride = std::max<size_t>(1, present_.size() / kSampleRows);
    size_t sampled = 0, admitted = 0;
    for (size_t s = 0; s < present_.size(); s += stride) {
      if (!present_[s]) continue;
      ++sampled;
      admitted += filter.admits(static_cast<uint32_t>(s)) ? 1 : 0;
    }
    if (sampled > 0 && static_cast<double>(admitted) >= kExactBelowShare * static_cast<double>(sampled)) {
      const auto found =
          graph_->search(query, k, [&](uint32_t slot) { return contains(slot) && filter.admits(slot); });
      if (found.size() == k) {
        TopSlots<float> best(rows, k);
        for (const auto& [slot, distance] : found) {
          float score = 0.0f;
          retrieval::dot_rows(query, vector(slot), 1, dims_, &score);
          best.offer(slot, score);
        }
        return best.take();
      }
    }
  }
  return exact_search(query, filter, rows, k);
}

std::vector<VectorIndex::Hit> VectorIndex::exact_search(const float* query, const RowFilter& filter,
                                                        const MemoryRows& rows, size_t k) const {
  if (k == 0 || filter.matches_nothing()) return {};
  TopSlots<float> best(rows, k);
  uint32_t admitted[kBlock];
  float scores[kBlock];
  for (size_t begin = 0; begin < present_.size(); begin += kBlock) {
    const size_t end = std::min(present_.size(), begin + kBlock);
    size_t n = 0;
    for (size_t s = begin; s < end; ++s) {
      if (present_[s] && filter.admits(static_cast<uint32_t>(s))) admitted[n++] = static_cast<uint32_t>(s);
    }
    // Runs of consecutive admitted rows go to the kernel together.
    for (size_t i = 0; i < n;) {
      size_t j = i + 1;
      while (j < n && admitted[j] == admitted[j - 1] + 1) ++j;
      retrieval::dot_rows(query, vector(admitted[i]), j - i, dims_, scores + i);
      i = j;
    }
    for (size_t i = 0; i < n; ++i) best.offer(admitted[i], scores[i]);
  }
  return best.take();
}

}  // namespace memembed::memory
