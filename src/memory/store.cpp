// MemoryStore: the semantics every backend shares (see memembed/memory.h).
#include "memembed/error.h"
#include "memembed/memory.h"
#include "memembed/retrieval.h"
#include "search_worker.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <istream>
#include <limits>
#include <mutex>
#include <ostream>
#include <random>
#include <set>
#include <shared_mutex>
#include <unordered_map>

namespace memembed::memory {

namespace {

constexpr Timestamp kBeginningOfTime = std::numeric_limits<Timestamp>::min();
constexpr const char* kFusionWeightSetting = "fusion_weight";

void check_name(const std::string& value, const char* field, size_t max_bytes) {
  if (value.empty()) throw invalid_input("{} must not be empty", field);
  if (value.size() > max_bytes) throw invalid_input("{} is {} bytes long; the limit is {}", field, value.size(), max_bytes);
  if (!is_valid_utf8(value)) throw invalid_input("{} is not valid UTF-8", field);
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7f) throw invalid_input("{} '{}' contains a control character", field, value);
  }
}

void check_content(const std::string& content, const Limits& limits) {
  if (!is_valid_utf8(content)) throw invalid_input("content is not valid UTF-8");
  if (strip_unicode_whitespace(content).empty()) throw invalid_input("content must not be empty");
  if (content.size() > limits.max_content_bytes) {
    throw invalid_input("content is {} bytes long; the limit is {} bytes", content.size(), limits.max_content_bytes);
  }
}

Metadata checked_metadata(Metadata metadata, const Limits& limits) {
  if (!std::isfinite(metadata.confidence) || metadata.confidence < 0.0 || metadata.confidence > 1.0) {
    throw invalid_input("metadata.confidence is {}; expected a number in [0, 1]", metadata.confidence);
  }
  if (metadata.source.size() > limits.max_source_bytes) {
    throw invalid_input("metadata.source is {} bytes long; the limit is {}", metadata.source.size(), limits.max_source_bytes);
  }
  if (!is_valid_utf8(metadata.source)) throw invalid_input("metadata.source is not valid UTF-8");
  std::vector<std::string> tags;
  for (const std::string& tag : metadata.tags) {
    check_name(tag, "metadata.tags[]", limits.max_tag_bytes);
    if (std::find(tags.begin(), tags.end(), tag) == tags.end()) tags.push_back(tag);
  }
  if (tags.size() > limits.max_tags) {
    throw invalid_input("metadata.tags has {} tags; the limit is {}", tags.size(), limits.max_tags);
  }
  metadata.tags = std::move(tags);
  return metadata;
}

void check_expiry(const std::optional<Timestamp>& expires_at, Timestamp now) {
  if (expires_at && *expires_at <= now) {
    throw invalid_input("expires_at {} is not in the future (now is {})", format_timestamp(*expires_at),
                        format_timestamp(now));
  }
}

// Time-ordered UUID (version 7): ids sort by creation, which keeps the database's id index local.
std::string new_id() {
  static std::mutex mutex;
  static std::mt19937_64 random{std::random_device{}()};
  uint64_t high, low;
  {
    std::lock_guard lock(mutex);
    high = random();
    low = random();
  }
  const uint64_t millis = static_cast<uint64_t>(now_micros() / 1000);
  high = (millis << 16) | 0x7000 | (high & 0x0fff);
  low = (low & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", high >> 32, (high >> 16) & 0xffff, high & 0xffff,
                     low >> 48, low & 0xffffffffffffULL);
}

std::vector<float> normalised_row(const embed::Embeddings& e, size_t row) {
  std::vector<float> v(e.row(row), e.row(row) + e.dim);
  retrieval::l2_normalize(v.data(), v.size());
  return v;
}

std::string describe(const ModelIdentity& m) {
  return fmt::format("{} ({} dims, fingerprint {})", m.name, m.dims, m.fingerprint.substr(0, 12));
}

}  // namespace

struct MemoryStore::Impl {
  std::unique_ptr<MemoryBackend> backend;
  StoreOptions options;

  // The set searches use and writes fill, and the sets a running reindex builds (writes fill
  // those too). Guarded by `sets_mutex`.
  std::shared_mutex sets_mutex;
  std::optional<int64_t> serving_set;
  std::shared_ptr<const Embedder> serving_embedder;
  std::optional<ModelIdentity> active_model;  // the active set's model, when the store has one
  std::vector<std::pair<int64_t, std::shared_ptr<const Embedder>>> building;
  SearchWorker worker;  // runs the BM25 side of hybrid searches

  std::string data_label() const {
    return options.data_label.empty() ? backend->describe() : options.data_label;
  }

  // The vectors writes of `contents` must carry: per content, one per set being served or built.
  std::vector<std::vector<VectorWrite>> vectors_for(const std::vector<std::string>& contents) {
    std::shared_lock lock(sets_mutex);
    if (active_model && !serving_embedder) {
      throw invalid_input(
          "{}: this store's memories are embedded with {}; open it with that model (--model/--config) to "
          "write, or switch models with `memembed memory reindex --data {} --model NEW`",
          data_label(), describe(*active_model), data_label());
    }
    std::vector<std::vector<VectorWrite>> out(contents.size());
    if (contents.empty()) return out;
    auto add = [&](int64_t set_id, const Embedder& embedder) {
      const embed::Embeddings e = embedder.embed_documents(contents);
      for (size_t i = 0; i < contents.size(); ++i) out[i].push_back({set_id, normalised_row(e, i)});
    };
    if (serving_set && serving_embedder) add(*serving_set, *serving_embedder);
    for (const auto& [set_id, embedder] : building) {
      if (set_id != serving_set) add(set_id, *embedder);
    }
    return out;
  }
  std::vector<VectorWrite> vectors_for(const std::string& content) { return vectors_for(std::vector{content}).front(); }

  MemoryEntry visible(const std::string& agent_id, const std::string& id) {
    check_name(agent_id, "agent_id", options.limits.max_id_bytes);
    if (id.empty()) throw invalid_input("memory id must not be empty");
    auto entry = backend->get(id);
    if (!entry || entry->agent_id != agent_id || (entry->expires_at && *entry->expires_at <= now_micros())) {
      throw not_found("memory {} not found for agent {}", id, agent_id);
    }
    return *entry;
  }

  double fusion_weight() {
    if (options.ranking.fusion_weight) return *options.ranking.fusion_weight;
    if (auto stored = backend->setting(kFusionWeightSetting)) return std::stod(*stored);
    return kDefaultFusionWeight;
  }

  void check_query(const Query& query) const {
    if (query.limit < 1 || query.limit > options.limits.max_limit) {
      throw invalid_input("limit {} is out of range; expected 1..{}", query.limit, options.limits.max_limit);
    }
    if (!(query.min_relevance >= 0.0 && query.min_relevance <= 1.0)) {
      throw invalid_input("min_relevance {} is out of range; expected 0..1", query.min_relevance);
    }
    if (query.since && query.until && *query.since >= *query.until) {
      throw invalid_input("since ({}) must be before until ({})", format_timestamp(*query.since),
                          format_timestamp(*query.until));
    }
    if (query.text) {
      if (!is_valid_utf8(*query.text)) throw invalid_input("query text is not valid UTF-8");
      if (query.text->size() > options.limits.max_content_bytes) {
        throw invalid_input("query text is {} bytes long; the limit is {}", query.text->size(),
                            options.limits.max_content_bytes);
      }
    }
    for (const std::string& ns : query.namespaces) check_name(ns, "namespaces[]", options.limits.max_id_bytes);
    for (const std::string& tag : query.tags) check_name(tag, "tags[]", options.limits.max_tag_bytes);
    for (Category c : query.categories) check_storable(c);
  }

  std::vector<MemoryEntry> search(Filter filter, const Query& query) {
    check_query(query);
    const RankingOptions& ranking = options.ranking;
    filter.namespaces = query.namespaces;
    filter.categories = query.categories;
    filter.tags = query.tags;
    filter.since = query.since;
    filter.until = query.until;
    filter.now = now_micros();

    std::optional<std::string> text = query.text;
    if (text && strip_unicode_whitespace(*text).empty()) text.reset();
    if (!text) {  // metadata only: newest first, scored by recency
      std::vector<MemoryEntry> entries;
      for (MemoryEntry& e : fetch(backend->recent(filter, query.limit))) {
        e.relevance_score = recency(e.created_at, filter.now);
        entries.push_back(std::move(e));
      }
      return entries;
    }

    const size_t depth = std::max(ranking.candidate_depth, query.limit);
    retrieval::FusionOptions fusion{ranking.fusion, fusion_weight(), ranking.rrf_k};
    std::vector<Candidate> lexical, dense;
    auto find_lexical = [&] { lexical = backend->lexical_search(filter, *text, depth); };
    std::optional<int64_t> set;
    {
      std::shared_lock lock(sets_mutex);
      if (serving_set && serving_embedder && (fusion.weight > 0.0 || fusion.method == Fusion::Rrf)) {
        // BM25 on the worker while this thread embeds the query and finds the dense candidates.
        SearchWorker::Pending lexical_side = worker.start(find_lexical);
        set = serving_set;
        const std::optional<Category> category =
            query.categories.size() == 1 ? std::optional<Category>(query.categories.front()) : std::nullopt;
        const embed::Embeddings q = serving_embedder->embed_queries({*text}, category);
        dense = backend->dense_search(filter, *set, normalised_row(q, 0), depth);
        lexical_side.wait();
      } else {
        find_lexical();
      }
    }

    // Fuse on positions in one id table.
    std::vector<std::string> ids;
    std::unordered_map<std::string, size_t> position;
    auto side = [&](const std::vector<Candidate>& list, std::optional<double> absent) {
      std::vector<retrieval::Scored> scored;
      for (const Candidate& c : list) {
        auto [it, inserted] = position.try_emplace(c.id, ids.size());
        if (inserted) ids.push_back(c.id);
        scored.push_back({it->second, c.score});
      }
      return retrieval::make_side(std::move(scored), depth, absent);
    };
    const retrieval::Side lexical_side = side(lexical, 0.0);
    const retrieval::Side dense_side = side(dense, std::nullopt);
    const std::vector<retrieval::Scored> fused = retrieval::fuse(lexical_side, dense_side, fusion);

    std::unordered_map<std::string, double> relevance;
    for (const retrieval::Scored& s : fused) relevance[ids[s.key]] = retrieval::fused_relevance(s.score, fusion);
    auto final_score = [&](const std::string& id, Timestamp created_at) {
      return ranking.relevance_weight * relevance[id] + ranking.recency_weight * recency(created_at, filter.now);
    };
    auto rank = [&](std::vector<MemoryEntry> entries) {
      for (MemoryEntry& e : entries) e.relevance_score = final_score(e.id, e.created_at);
      entries.erase(std::remove_if(entries.begin(), entries.end(),
                                   [&](const MemoryEntry& e) { return e.relevance_score + 1e-12 < query.min_relevance; }),
                    entries.end());
      std::stable_sort(entries.begin(), entries.end(), [](const MemoryEntry& a, const MemoryEntry& b) {
        return a.relevance_score > b.relevance_score;
      });
      return entries;
    };

    std::unordered_map<std::string, Timestamp> created;
    for (const auto* list : {&lexical, &dense}) {
      for (const Candidate& c : *list) {
        if (c.created_at) created.emplace(c.id, *c.created_at);
      }
    }
    std::vector<std::string> fused_ids;
    for (const retrieval::Scored& s : fused) fused_ids.push_back(ids[s.key]);
    const bool all_dated = std::all_of(fused_ids.begin(), fused_ids.end(), [&](const std::string& id) { return created.count(id) > 0; });
    if (!all_dated || (ranking.mmr && set)) {  // every candidate's record is needed to rank
      std::vector<MemoryEntry> entries = rank(fetch(fused_ids));
      if (ranking.mmr && set) return diversify(std::move(entries), *set, query.limit);
      if (entries.size() > query.limit) entries.resize(query.limit);
      return entries;
    }
    // Ranked on the backend's created_at; only the records returned are read (in rounds, as a
    // memory deleted since the search drops out and the next in rank takes its place).
    std::vector<std::pair<double, std::string>> ranked;
    for (const std::string& id : fused_ids) {
      const double score = final_score(id, created[id]);
      if (score + 1e-12 >= query.min_relevance) ranked.emplace_back(score, id);
    }
    std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    std::vector<MemoryEntry> entries;
    for (size_t next = 0; entries.size() < query.limit && next < ranked.size();) {
      std::vector<std::string> wanted;
      for (; wanted.size() < query.limit - entries.size() && next < ranked.size(); ++next) wanted.push_back(ranked[next].second);
      for (MemoryEntry& e : fetch(wanted)) entries.push_back(std::move(e));
    }
    return rank(std::move(entries));
  }

  double recency(Timestamp created_at, Timestamp now) const {
    const double age_hours = std::max(0.0, static_cast<double>(now - created_at) / 3.6e9);
    return std::exp(-options.ranking.decay_per_hour * age_hours);
  }

  // Entries of `candidates`' ids in that order; ids deleted meanwhile drop out.
  std::vector<MemoryEntry> fetch(const std::vector<Candidate>& candidates) {
    std::vector<std::string> ids;
    for (const Candidate& c : candidates) ids.push_back(c.id);
    return fetch(ids);
  }
  std::vector<MemoryEntry> fetch(const std::vector<std::string>& ids) { return backend->get_many(ids); }

  // Maximal marginal relevance: each pick maximises lambda * score - (1 - lambda) * (its highest
  // cosine similarity to an earlier pick).
  std::vector<MemoryEntry> diversify(std::vector<MemoryEntry> entries, int64_t set, size_t limit) {
    std::vector<std::string> ids;
    for (const MemoryEntry& e : entries) ids.push_back(e.id);
    std::unordered_map<std::string, std::vector<float>> vectors;
    for (auto& [id, v] : backend->vectors(set, ids)) vectors.emplace(id, std::move(v));
    const double lambda = options.ranking.mmr_lambda;
    std::vector<MemoryEntry> picked;
    std::vector<bool> used(entries.size(), false);
    while (picked.size() < std::min(limit, entries.size())) {
      size_t best = entries.size();
      double best_value = -std::numeric_limits<double>::infinity();
      for (size_t i = 0; i < entries.size(); ++i) {
        if (used[i]) continue;
        double similarity = 0.0;
        auto mine = vectors.find(entries[i].id);
        for (const MemoryEntry& p : picked) {
          auto theirs = vectors.find(p.id);
          if (mine != vectors.end() && theirs != vectors.end()) {
            similarity = std::max(similarity, static_cast<double>(retrieval::dot(mine->second.data(), theirs->second.data(),
                                                                                 mine->second.size())));
          }
        }
        const double value = lambda * entries[i].relevance_score - (1.0 - lambda) * similarity;
        if (value > best_value) {
          best_value = value;
          best = i;
        }
      }
      used[best] = true;
      picked.push_back(entries[best]);
    }
    return picked;
  }
};

MemoryStore::MemoryStore(std::unique_ptr<MemoryBackend> backend, StoreOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->backend = std::move(backend);
  impl_->options = std::move(options);
  Impl& s = *impl_;
  const RankingOptions& r = s.options.ranking;
  if (r.fusion_weight && !(*r.fusion_weight >= 0.0 && *r.fusion_weight <= 1.0)) {
    throw invalid_input("fusion weight {} is out of range; expected 0..1", *r.fusion_weight);
  }
  if (!(r.mmr_lambda >= 0.0 && r.mmr_lambda <= 1.0)) throw invalid_input("mmr lambda {} is out of range; expected 0..1", r.mmr_lambda);
  if (r.decay_per_hour < 0.0 || r.relevance_weight < 0.0 || r.recency_weight < 0.0) {
    throw invalid_input("ranking weights and decay must not be negative");
  }

  std::optional<VectorSet> active;
  for (const VectorSet& set : s.backend->vector_sets()) {
    if (set.state == VectorSetState::Active) active = set;
  }
  if (active) s.active_model = active->model;
  const auto& embedder = s.options.embedder;
  if (!embedder) return;
  const ModelIdentity model = embedder->identity();
  if (active) {
    if (active->model == model) {
      s.serving_set = active->id;
      s.serving_embedder = embedder;
    } else if (!s.options.allow_model_mismatch) {
      throw invalid_input(
          "{}: the store's active vectors were made by {}, but the configured model is {}; vectors of different "
          "models cannot be mixed. Re-embed with `memembed memory reindex --data {} --model <the new model>` "
          "(the old vectors keep serving until it completes), or open the store with the old model",
          s.data_label(), describe(active->model), describe(model), s.data_label());
    }
    return;
  }
  if (!s.backend->scan("", 1).empty()) {
    if (s.options.allow_model_mismatch) return;
    throw invalid_input(
        "{}: the store holds memories without vectors for {}; embed them with `memembed memory reindex --data {} "
        "--model <that model>`",
        s.data_label(), describe(model), s.data_label());
  }
  // An empty store adopts the model (reusing a set kept from an earlier switch).
  std::optional<int64_t> set_id;
  for (const VectorSet& set : s.backend->vector_sets()) {
    if (set.model == model) set_id = set.id;
  }
  if (set_id) s.backend->activate_vector_set(*set_id);
  else set_id = s.backend->create_vector_set(model, VectorSetState::Active);
  s.serving_set = set_id;
  s.serving_embedder = embedder;
  s.active_model = model;
}

MemoryStore::~MemoryStore() = default;

MemoryBackend& MemoryStore::backend() { return *impl_->backend; }
const StoreOptions& MemoryStore::options() const { return impl_->options; }

std::string MemoryStore::store(const std::string& agent_id, const StoreRequest& request) {
  const Limits& limits = impl_->options.limits;
  check_name(agent_id, "agent_id", limits.max_id_bytes);
  check_storable(request.category);
  check_name(request.namespace_, "namespace", limits.max_id_bytes);
  check_content(request.content, limits);
  MemoryEntry entry;
  entry.metadata = checked_metadata(request.metadata, limits);
  entry.created_at = entry.updated_at = now_micros();
  check_expiry(request.expires_at, entry.created_at);
  entry.id = new_id();
  entry.agent_id = agent_id;
  entry.namespace_ = request.namespace_;
  entry.category = request.category;
  entry.content = request.content;
  entry.expires_at = request.expires_at;
  impl_->backend->put({{entry, impl_->vectors_for(entry.content), false}});
  return entry.id;
}

std::vector<MemoryEntry> MemoryStore::retrieve(const std::string& agent_id, const Query& query) {
  check_name(agent_id, "agent_id", impl_->options.limits.max_id_bytes);
  Filter filter;
  filter.agent_id = agent_id;
  return impl_->search(filter, query);
}

MemoryEntry MemoryStore::get(const std::string& agent_id, const std::string& id) {
  return impl_->visible(agent_id, id);
}

MemoryEntry MemoryStore::update(const std::string& agent_id, const std::string& id, const UpdateRequest& request) {
  const Limits& limits = impl_->options.limits;
  MemoryEntry entry = impl_->visible(agent_id, id);
  const Timestamp now = now_micros();
  if (request.clear_expiry && request.expires_at) {
    throw invalid_input("update: give expires_at or clear_expiry, not both");
  }
  bool content_changed = false;
  if (request.content) {
    check_content(*request.content, limits);
    content_changed = *request.content != entry.content;
    entry.content = *request.content;
  }
  if (request.metadata) entry.metadata = checked_metadata(*request.metadata, limits);
  if (request.expires_at) {
    check_expiry(request.expires_at, now);
    entry.expires_at = request.expires_at;
  }
  if (request.clear_expiry) entry.expires_at.reset();
  entry.updated_at = std::max(now, entry.updated_at);
  if (content_changed) impl_->backend->put({{entry, impl_->vectors_for(entry.content), false}});
  else impl_->backend->put({{entry, {}, true}});
  return entry;
}

void MemoryStore::remove(const std::string& agent_id, const std::string& id) {
  impl_->visible(agent_id, id);
  impl_->backend->remove(id);
}

size_t MemoryStore::count(const std::string& agent_id, std::optional<Category> category) {
  check_name(agent_id, "agent_id", impl_->options.limits.max_id_bytes);
  Filter filter;
  filter.agent_id = agent_id;
  if (category) {
    check_storable(*category);
    filter.categories = {*category};
  }
  filter.now = now_micros();
  return impl_->backend->count(filter);
}

void MemoryStore::publish(const std::string& agent_id, const std::string& id) {
  impl_->visible(agent_id, id);
  impl_->backend->set_shared(id, true);
}

void MemoryStore::retract(const std::string& agent_id, const std::string& id) {
  impl_->visible(agent_id, id);
  impl_->backend->set_shared(id, false);
}

std::vector<MemoryEntry> MemoryStore::search_shared(const Query& query, const std::optional<std::string>& exclude_agent) {
  Filter filter;
  filter.shared_only = true;
  if (exclude_agent) {
    check_name(*exclude_agent, "exclude_agent", impl_->options.limits.max_id_bytes);
    filter.exclude_agent = exclude_agent;
  }
  return impl_->search(filter, query);
}

size_t MemoryStore::purge_expired() { return impl_->backend->purge_expired(now_micros()); }

StoreStatus MemoryStore::status() {
  StoreStatus status;
  status.backend = impl_->backend->describe();
  Filter all;
  all.now = kBeginningOfTime;
  status.memories = impl_->backend->count(all);
  status.vector_sets = impl_->backend->vector_sets();
  {
    std::shared_lock lock(impl_->sets_mutex);
    if (impl_->serving_embedder) status.serving_model = impl_->serving_embedder->identity();
  }
  status.fusion_weight = impl_->fusion_weight();
  status.fusion = retrieval::to_string(impl_->options.ranking.fusion);
  return status;
}

// ---- Export / import ----------------------------------------------------------------------------

void MemoryStore::export_jsonl(std::ostream& out, bool with_vectors) {
  std::optional<int64_t> set;
  std::optional<ModelIdentity> model;
  if (with_vectors) {
    for (const VectorSet& s : impl_->backend->vector_sets()) {
      if (s.state == VectorSetState::Active) {
        set = s.id;
        model = s.model;
      }
    }
  }
  std::string cursor;
  while (true) {
    const std::vector<MemoryEntry> batch = impl_->backend->scan(cursor, 512);
    if (batch.empty()) break;
    std::unordered_map<std::string, std::vector<float>> vectors;
    if (set) {
      std::vector<std::string> ids;
      for (const MemoryEntry& e : batch) ids.push_back(e.id);
      for (auto& [id, v] : impl_->backend->vectors(*set, ids)) vectors.emplace(id, std::move(v));
    }
    for (const MemoryEntry& e : batch) {
      Json line = to_json(e);
      if (auto it = vectors.find(e.id); it != vectors.end()) {
        line["vector"] = it->second;
        line["vector_model"] = {{"name", model->name}, {"fingerprint", model->fingerprint}, {"dims", model->dims}};
      }
      out << line.dump() << '\n';
    }
    cursor = batch.back().id;
  }
  out.flush();
  if (!out) throw io_error("export: writing failed");
}

size_t MemoryStore::import_jsonl(std::istream& in, std::string_view where) {
  Impl& s = *impl_;
  const Limits& limits = s.options.limits;
  size_t imported = 0, line_number = 0;
  std::vector<MemoryWrite> batch;
  std::vector<size_t> to_embed;  // positions in batch without a reusable vector
  auto flush = [&] {
    std::vector<std::string> contents;
    for (size_t i : to_embed) contents.push_back(batch[i].entry.content);
    auto vectors = s.vectors_for(contents);
    for (size_t k = 0; k < to_embed.size(); ++k) batch[to_embed[k]].vectors = std::move(vectors[k]);
    s.backend->put(batch);
    imported += batch.size();
    batch.clear();
    to_embed.clear();
  };
  std::string line;
  while (std::getline(in, line)) {
    ++line_number;
    if (strip_unicode_whitespace(line).empty()) continue;
    const std::string at = fmt::format("{}:{}", where, line_number);
    Json json;
    try {
      json = Json::parse(line);
    } catch (const Json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
      throw invalid_input("{}: not valid JSON ({})", at, e.what());
    }
    MemoryWrite write;
    write.entry = entry_from_json(json, at);
    MemoryEntry& entry = write.entry;
    try {
      check_name(entry.id, "id", limits.max_id_bytes);
      check_name(entry.agent_id, "agent_id", limits.max_id_bytes);
      check_storable(entry.category);
      check_name(entry.namespace_, "namespace", limits.max_id_bytes);
      check_content(entry.content, limits);
      entry.metadata = checked_metadata(entry.metadata, limits);
    } catch (const Error& e) {
      throw invalid_input("{}: {}", at, e.what());
    }
    // A vector made by the serving model is kept as it is (exact round trip); else re-embed.
    bool reused = false;
    {
      std::shared_lock lock(s.sets_mutex);
      if (json.contains("vector") && json.contains("vector_model") && s.serving_set && s.serving_embedder &&
          s.building.empty()) {
        const ModelIdentity serving = s.serving_embedder->identity();
        const Json& m = json["vector_model"];
        const Json& v = json["vector"];
        if (m.is_object() && m.value("fingerprint", "") == serving.fingerprint && m.value("dims", size_t{0}) == serving.dims &&
            v.is_array() && v.size() == serving.dims && std::all_of(v.begin(), v.end(), [](const Json& x) { return x.is_number(); })) {
          write.vectors.push_back({*s.serving_set, v.get<std::vector<float>>()});
          reused = true;
        }
      }
    }
    if (!reused) to_embed.push_back(batch.size());
    batch.push_back(std::move(write));
    if (batch.size() == 256) flush();
  }
  if (!batch.empty()) flush();
  return imported;
}

// ---- Model switch -------------------------------------------------------------------------------

ReindexResult MemoryStore::reindex(std::shared_ptr<const Embedder> target, const ReindexOptions& options) {
  if (!target) throw invalid_input("reindex: no target model");
  if (options.batch == 0) throw invalid_input("reindex: batch must be at least 1");
  Impl& s = *impl_;
  const ModelIdentity model = target->identity();
  ReindexResult result;
  std::optional<VectorSet> existing;
  for (const VectorSet& set : s.backend->vector_sets()) {
    if (set.model == model) existing = set;
  }
  if (existing) {
    result.set_id = existing->id;
    if (existing->state == VectorSetState::Retired) s.backend->set_vector_set_state(existing->id, VectorSetState::Building);
  } else {
    result.set_id = s.backend->create_vector_set(model, VectorSetState::Building);
  }
  const bool already_active = existing && existing->state == VectorSetState::Active;
  {
    std::unique_lock lock(s.sets_mutex);
    if (!already_active) s.building.emplace_back(result.set_id, target);
  }
  auto stop_building = [&] {
    std::unique_lock lock(s.sets_mutex);
    s.building.erase(std::remove_if(s.building.begin(), s.building.end(),
                                    [&](const auto& b) { return b.first == result.set_id; }),
                     s.building.end());
  };

  Filter all;
  all.now = kBeginningOfTime;
  result.total = s.backend->count(all);
  const size_t missing_at_start = s.backend->missing_vector_count(result.set_id);
  size_t done = result.total - std::min(result.total, missing_at_start);
  auto embed_batch = [&](const std::vector<PendingText>& pending) {
    std::vector<std::string> texts;
    for (const PendingText& p : pending) texts.push_back(p.content);
    const embed::Embeddings e = target->embed_documents(texts);
    if (e.rows != texts.size() || e.dim != model.dims) {
      throw make_error(ErrorKind::Internal, "reindex: model returned {}x{} for {} texts of {} dims", e.rows, e.dim,
                       texts.size(), model.dims);
    }
    std::vector<std::pair<PendingText, std::vector<float>>> items;
    for (size_t i = 0; i < pending.size(); ++i) items.emplace_back(pending[i], normalised_row(e, i));
    s.backend->put_vectors(result.set_id, items);
    result.embedded += pending.size();
    done += pending.size();
    if (options.on_progress) options.on_progress(std::min(done, result.total), result.total);
  };
  if (options.on_progress) options.on_progress(done, result.total);
  try {
    // One pass in id order, then sweeps for what was written or changed behind the cursor.
    std::string cursor;
    bool first_pass = true;
    while (true) {
      if (options.stop && options.stop->load()) {
        result.interrupted = true;
        stop_building();
        return result;
      }
      const std::vector<PendingText> pending = s.backend->missing_vectors(result.set_id, cursor, options.batch);
      if (pending.empty()) {
        if (first_pass) {
          first_pass = false;
          cursor.clear();
          continue;
        }
        break;
      }
      embed_batch(pending);
      if (first_pass) cursor = pending.back().id;
    }
    if (!already_active) {
      std::unique_lock lock(s.sets_mutex);
      s.backend->activate_vector_set(result.set_id);
      s.serving_set = result.set_id;
      s.serving_embedder = target;
      s.active_model = model;
      result.switched = true;
    }
    // A write that chose its vectors before this reindex registered its set may have landed after
    // the last sweep; from the switch on every write carries this set, so one more sweep is final.
    while (true) {
      const std::vector<PendingText> pending = s.backend->missing_vectors(result.set_id, "", options.batch);
      if (pending.empty()) break;
      embed_batch(pending);
    }
  } catch (...) {
    stop_building();
    throw;
  }
  stop_building();
  if (options.prune) {
    for (const VectorSet& set : s.backend->vector_sets()) {
      if (set.id != result.set_id) {
        s.backend->drop_vector_set(set.id);
        ++result.pruned_sets;
      }
    }
  }
  return result;
}

// ---- Calibration --------------------------------------------------------------------------------

std::vector<std::string> calibration_documents(MemoryBackend& backend, Timestamp now) {
  std::vector<MemoryEntry> live;
  for (std::string cursor;;) {
    std::vector<MemoryEntry> batch = backend.scan(cursor, 1024);
    if (batch.empty()) break;
    cursor = batch.back().id;
    for (MemoryEntry& e : batch) {
      if (!e.expires_at || *e.expires_at > now) live.push_back(std::move(e));
    }
  }
  // Ids are time-ordered: after a stable sort by agent, each agent's memories are in creation order.
  std::stable_sort(live.begin(), live.end(), [](const MemoryEntry& a, const MemoryEntry& b) { return a.agent_id < b.agent_id; });
  std::vector<std::string> documents;
  documents.reserve(live.size());
  for (MemoryEntry& e : live) documents.push_back(std::move(e.content));
  return documents;
}

retrieval::FusionTuning MemoryStore::calibrate_fusion() {
  Impl& s = *impl_;
  std::shared_ptr<const Embedder> embedder;
  {
    std::shared_lock lock(s.sets_mutex);
    embedder = s.serving_embedder;
  }
  if (!embedder) throw invalid_input("calibrate: open the store with its model (--model or --config)");
  const std::vector<std::string> documents = calibration_documents(*s.backend, now_micros());
  const retrieval::FusionTuning tuning = retrieval::tune_fusion_on_documents(
      documents, [&](const std::vector<std::string>& texts) { return embedder->embed_documents(texts); },
      [&](const std::vector<std::string>& texts) { return embedder->embed_queries(texts, std::nullopt); },
      retrieval::FusionOptions{s.options.ranking.fusion, kDefaultFusionWeight, s.options.ranking.rrf_k});
  s.backend->set_setting(kFusionWeightSetting, fmt::format("{}", tuning.weight));
  return tuning;
}

}  // namespace memembed::memory
