#include "vector_index.h"

#include <algorithm>
#include <limits>
#include <queue>

namespace memembed::memory {

uint32_t VectorIndex::intern(const std::string& text) {
  return strings_.try_emplace(text, static_cast<uint32_t>(strings_.size())).first->second;
}

std::optional<uint32_t> VectorIndex::lookup(const std::string& text) const {
  auto it = strings_.find(text);
  if (it == strings_.end()) return std::nullopt;
  return it->second;
}

void VectorIndex::assign(Row& row, const MemoryEntry& entry) {
  row.id = entry.id;
  row.agent = intern(entry.agent_id);
  row.namespace_ = intern(entry.namespace_);
  row.category = entry.category;
  row.tags.clear();
  for (const std::string& tag : entry.metadata.tags) row.tags.push_back(intern(tag));
  std::sort(row.tags.begin(), row.tags.end());
  row.created_at = entry.created_at;
  row.expires_at = entry.expires_at.value_or(std::numeric_limits<Timestamp>::max());
  row.shared = entry.shared;
  row.alive = true;
}

void VectorIndex::upsert(const MemoryEntry& entry, const float* vector) {
  size_t index;
  if (auto it = by_id_.find(entry.id); it != by_id_.end()) {
    index = it->second;
  } else if (!free_rows_.empty()) {
    index = free_rows_.back();
    free_rows_.pop_back();
  } else {
    index = rows_.size();
    rows_.emplace_back();
    values_.resize(rows_.size() * dims_);
  }
  assign(rows_[index], entry);
  std::copy(vector, vector + dims_, values_.data() + index * dims_);
  by_id_[entry.id] = index;
}

void VectorIndex::update_attributes(const MemoryEntry& entry) {
  if (auto it = by_id_.find(entry.id); it != by_id_.end()) assign(rows_[it->second], entry);
}

void VectorIndex::set_shared(const std::string& id, bool shared) {
  if (auto it = by_id_.find(id); it != by_id_.end()) rows_[it->second].shared = shared;
}

void VectorIndex::remove(const std::string& id) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  rows_[it->second].alive = false;
  rows_[it->second].id.clear();
  free_rows_.push_back(it->second);
  by_id_.erase(it);
}

std::vector<Candidate> VectorIndex::search(const Filter& filter, const float* query, size_t k) const {
  // Resolve the filter's strings once; one never seen matches nothing.
  std::optional<uint32_t> agent, excluded;
  if (filter.agent_id) {
    agent = lookup(*filter.agent_id);
    if (!agent) return {};
  }
  if (filter.exclude_agent) excluded = lookup(*filter.exclude_agent);
  std::vector<uint32_t> namespaces, tags;
  for (const std::string& ns : filter.namespaces) {
    if (auto id = lookup(ns)) namespaces.push_back(*id);
  }
  if (!filter.namespaces.empty() && namespaces.empty()) return {};
  for (const std::string& tag : filter.tags) {
    auto id = lookup(tag);
    if (!id) return {};
    tags.push_back(*id);
  }
  std::sort(tags.begin(), tags.end());
  tags.erase(std::unique(tags.begin(), tags.end()), tags.end());

  auto admits = [&](const Row& row) {
    if (!row.alive) return false;
    if (agent && row.agent != *agent) return false;
    if (filter.shared_only && !row.shared) return false;
    if (excluded && row.agent == *excluded) return false;
    if (row.expires_at <= filter.now) return false;
    if (filter.since && row.created_at < *filter.since) return false;
    if (filter.until && row.created_at >= *filter.until) return false;
    if (!namespaces.empty() && std::find(namespaces.begin(), namespaces.end(), row.namespace_) == namespaces.end()) {
      return false;
    }
    if (!filter.categories.empty() &&
        std::find(filter.categories.begin(), filter.categories.end(), row.category) == filter.categories.end()) {
      return false;
    }
    return std::includes(row.tags.begin(), row.tags.end(), tags.begin(), tags.end());
  };

  // Min-heap of the best k so far: (score, row) with the worst on top.
  using Entry = std::pair<float, size_t>;
  auto worse = [&](const Entry& a, const Entry& b) {
    if (a.first != b.first) return a.first > b.first;
    return rows_[a.second].id < rows_[b.second].id;
  };
  std::priority_queue<Entry, std::vector<Entry>, decltype(worse)> best(worse);
  for (size_t r = 0; r < rows_.size(); ++r) {
    if (!admits(rows_[r])) continue;
    const float score = retrieval::dot(query, values_.data() + r * dims_, dims_);
    if (best.size() < k) {
      best.emplace(score, r);
    } else if (score > best.top().first) {
      best.pop();
      best.emplace(score, r);
    }
  }
  std::vector<Candidate> out(best.size());
  for (size_t i = out.size(); i-- > 0;) {
    out[i] = {rows_[best.top().second].id, best.top().first};
    best.pop();
  }
  return out;
}

}  // namespace memembed::memory
