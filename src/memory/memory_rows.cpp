#include "memory_rows.h"

#include <algorithm>

namespace memembed::memory {

uint32_t MemoryRows::intern(const std::string& text) {
  return strings_.try_emplace(text, static_cast<uint32_t>(strings_.size())).first->second;
}

std::optional<uint32_t> MemoryRows::lookup(const std::string& text) const {
  auto it = strings_.find(text);
  if (it == strings_.end()) return std::nullopt;
  return it->second;
}

uint32_t MemoryRows::upsert(const MemoryEntry& entry) {
  uint32_t slot = this->slot(entry.id);
  if (slot == kNone) {
    if (!free_.empty()) {
      slot = free_.back();
      free_.pop_back();
    } else {
      slot = static_cast<uint32_t>(rows_.size());
      rows_.emplace_back();
      attributes_.emplace_back();
    }
    by_id_.emplace(entry.id, slot);
  }
  Row& row = rows_[slot];
  row.id = entry.id;
  row.tags.clear();
  for (const std::string& tag : entry.metadata.tags) row.tags.push_back(intern(tag));
  std::sort(row.tags.begin(), row.tags.end());
  Attributes& a = attributes_[slot];
  a.agent = intern(entry.agent_id);
  a.namespace_ = intern(entry.namespace_);
  a.category = entry.category;
  a.created_at = entry.created_at;
  a.expires_at = entry.expires_at.value_or(std::numeric_limits<Timestamp>::max());
  a.shared = entry.shared;
  a.alive = true;
  return slot;
}

uint32_t MemoryRows::remove(const std::string& id) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return kNone;
  const uint32_t slot = it->second;
  by_id_.erase(it);
  rows_[slot] = Row{};
  attributes_[slot] = Attributes{};
  free_.push_back(slot);
  return slot;
}

void MemoryRows::set_shared(const std::string& id, bool shared) {
  if (auto it = by_id_.find(id); it != by_id_.end()) attributes_[it->second].shared = shared;
}

uint32_t MemoryRows::slot(const std::string& id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? kNone : it->second;
}

RowFilter::RowFilter(const MemoryRows& rows, const Filter& filter) : rows_(rows), filter_(filter) {
  // A string the rows never held matches nothing (an excluded one excludes nothing).
  if (filter.agent_id) {
    agent_ = rows.lookup(*filter.agent_id);
    nothing_ |= !agent_;
  }
  if (filter.exclude_agent) excluded_ = rows.lookup(*filter.exclude_agent);
  for (const std::string& ns : filter.namespaces) {
    if (auto id = rows.lookup(ns)) namespaces_.push_back(*id);
  }
  nothing_ |= !filter.namespaces.empty() && namespaces_.empty();
  for (const std::string& tag : filter.tags) {
    auto id = rows.lookup(tag);
    nothing_ |= !id;
    if (id) tags_.push_back(*id);
  }
  std::sort(tags_.begin(), tags_.end());
  tags_.erase(std::unique(tags_.begin(), tags_.end()), tags_.end());
  for (Category c : filter.categories) categories_ |= 1u << static_cast<unsigned>(c);
}

bool RowFilter::admits(uint32_t slot) const {
  if (nothing_ || slot >= rows_.attributes_.size()) return false;
  const MemoryRows::Attributes& a = rows_.attributes_[slot];
  if (!a.alive) return false;
  if (agent_ && a.agent != *agent_) return false;
  if (filter_.shared_only && !a.shared) return false;
  if (excluded_ && a.agent == *excluded_) return false;
  if (a.expires_at <= filter_.now) return false;
  if (filter_.since && a.created_at < *filter_.since) return false;
  if (filter_.until && a.created_at >= *filter_.until) return false;
  if (categories_ != 0 && (categories_ & (1u << static_cast<unsigned>(a.category))) == 0) return false;
  if (!namespaces_.empty() && std::find(namespaces_.begin(), namespaces_.end(), a.namespace_) == namespaces_.end()) {
    return false;
  }
  if (tags_.empty()) return true;
  const std::vector<uint32_t>& tags = rows_.rows_[slot].tags;
  return std::includes(tags.begin(), tags.end(), tags_.begin(), tags_.end());
}

}  // namespace memembed::memory
