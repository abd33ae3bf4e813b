// memory: the store that agents' memories live in (DESIGN.md, "Memory semantics").
//
// Two layers, so that every database gives the same answers:
//  - MemoryStore (this header, implemented once in src/memory/) owns the semantics: validation,
//    ids and timestamps, embedding (documents and per-category queries), expiry, agent isolation,
//    shared knowledge, BM25 + dense fusion, recency ranking, MMR diversity, model switches.
//  - MemoryBackend is what a database does: durable rows, one vector set per embedding model
//    (fingerprint + dims), and candidate search - BM25 and dense - with every filter applied INSIDE
//    the search, so a query never returns fewer results than exist because a top-k was cut before
//    filtering. The embedded default is SQLite (open_sqlite_backend: one data directory, WAL, one
//    process at a time); the PostgreSQL + pgvector backend implements the same interface and must
//    pass the same conformance suite (tests/memory/backend_conformance.h).
//
// Contract highlights:
//  - Categories EPISODIC, PROCEDURAL, SEMANTIC, SOCIAL are stored; WORKING (the agent's context
//    window) is refused with an error that says why.
//  - An agent sees only its own memories (get/update/delete/retrieve/count take its id). Shared
//    knowledge is explicit: publish() makes one memory visible to search_shared(); retract() hides it.
//  - Expired memories (expires_at <= now) are never returned or counted; purge_expired() deletes them.
//  - Bad input throws memembed::Error (InvalidInput naming the field; NotFound for an unknown id);
//    a failed call leaves nothing half-written.
//  - Timestamps are microseconds since the Unix epoch (UTC); text form RFC 3339
//    ("2026-11-30T17:05:00Z", fractional seconds and +hh:mm offsets accepted).
//  - MemoryStore is safe to call from many threads at once.
#pragma once

#include "memembed/embed.h"
#include "memembed/json_io.h"
#include "memembed/retrieval.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace memembed::select {
struct EmbedderConfig;
}

namespace memembed::memory {

// ---- Records ------------------------------------------------------------------------------------

enum class Category { Working, Episodic, Procedural, Semantic, Social };
inline constexpr Category kStoredCategories[] = {Category::Episodic, Category::Procedural,
                                                 Category::Semantic, Category::Social};

const char* to_string(Category category);  // "EPISODIC", ...
// Any case. Throws InvalidInput naming `field` and the accepted names. WORKING parses (so the
// store can refuse it with its reason); check_storable() rejects it.
Category parse_category(std::string_view name, std::string_view field = "category");
void check_storable(Category category);  // throws InvalidInput for WORKING, saying why

using Timestamp = int64_t;  // microseconds since 1970-01-01T00:00:00Z
Timestamp now_micros();
std::string format_timestamp(Timestamp time);  // RFC 3339 UTC, microseconds when not whole
// Throws InvalidInput naming `field` and the expected form.
Timestamp parse_timestamp(std::string_view text, std::string_view field);

struct Metadata {
  std::string source;              // who or what produced the memory ("user", "tool:search", ...)
  double confidence = 1.0;         // 0..1
  std::vector<std::string> tags;   // unordered set; duplicates are dropped
};

struct StoreRequest {
  Category category = Category::Episodic;
  std::string namespace_ = "default";
  std::string content;
  Metadata metadata;
  std::optional<Timestamp> expires_at;  // must lie in the future
};

struct MemoryEntry {
  std::string id;
  std::string agent_id;
  std::string namespace_;
  Category category = Category::Episodic;
  std::string content;
  Metadata metadata;
  Timestamp created_at = 0;
  Timestamp updated_at = 0;
  std::optional<Timestamp> expires_at;
  bool shared = false;            // published to shared knowledge
  double relevance_score = 0.0;   // retrieve/search_shared only: the final ranking score
};

// Only the fields that are set change. A content change re-embeds the memory.
struct UpdateRequest {
  std::optional<std::string> content;
  std::optional<Metadata> metadata;
  std::optional<Timestamp> expires_at;
  bool clear_expiry = false;  // makes the memory permanent (exclusive with expires_at)
};

struct Query {
  std::optional<std::string> text;        // none: metadata-only, newest first
  std::vector<std::string> namespaces;    // empty: all
  std::vector<Category> categories;       // empty: all stored categories
  std::vector<std::string> tags;          // every tag must be present
  std::optional<Timestamp> since;         // created_at >= since
  std::optional<Timestamp> until;         // created_at <  until
  double min_relevance = 0.0;             // 0..1, on the final score
  size_t limit = 10;                      // 1..1000
};

// Limits on input; exceeding one is InvalidInput naming the field and the limit.
struct Limits {
  size_t max_content_bytes = 64 * 1024;
  size_t max_id_bytes = 256;        // agent_id, namespace
  size_t max_tag_bytes = 128;
  size_t max_tags = 64;
  size_t max_source_bytes = 1024;
  size_t max_limit = 1000;
};

Json to_json(const MemoryEntry& entry);
MemoryEntry entry_from_json(const Json& json, std::string_view where);  // export/import records
Json to_json(const Metadata& metadata);
Metadata metadata_from_json(const Json& json, std::string_view where);

// ---- Models -------------------------------------------------------------------------------------

// What distinguishes one vector set from another: vectors from different models never mix.
struct ModelIdentity {
  std::string name;         // for people ("all-MiniLM-L6-v2", "static-glove-25d")
  std::string fingerprint;  // content hash of the model files (and anything else changing vectors)
  size_t dims = 0;
  bool operator==(const ModelIdentity& other) const {
    return fingerprint == other.fingerprint && dims == other.dims;
  }
};

// How the store turns text into vectors. Vectors are L2-normalised by the store.
class Embedder {
 public:
  virtual ~Embedder() = default;
  virtual ModelIdentity identity() const = 0;
  virtual embed::Embeddings embed_documents(const std::vector<std::string>& texts) const = 0;
  // `category`: the query's single category, or nullopt when it spans several (DEFAULT).
  virtual embed::Embeddings embed_queries(const std::vector<std::string>& texts,
                                          std::optional<Category> category) const = 0;
};

// ---- Ranking ------------------------------------------------------------------------------------

using retrieval::Fusion;  // zscore (default), minmax, rrf: see memembed/retrieval.h
using retrieval::kDefaultFusionWeight;

struct RankingOptions {
  Fusion fusion = Fusion::ZScore;
  // Dense share in [0, 1]: 0 = BM25 only, 1 = dense only. nullopt: the weight `calibrate_fusion`
  // stored in the store, else kDefaultFusionWeight.
  std::optional<double> fusion_weight;
  double rrf_k = 60.0;
  size_t candidate_depth = retrieval::kDefaultCandidateDepth;  // per side before fusion (>= limit)
  double relevance_weight = 0.7;
  double recency_weight = 0.3;
  double decay_per_hour = 0.01;  // recency = exp(-decay * age_hours)
  bool mmr = false;              // maximal marginal relevance over the dense vectors
  double mmr_lambda = 0.7;       // 1 = relevance only, 0 = diversity only
};

// ---- Backend: what a database does --------------------------------------------------------------

// Which memories a search may return; the backend applies ALL of it inside the search.
struct Filter {
  std::optional<std::string> agent_id;        // only this agent's memories
  bool shared_only = false;                   // only published memories
  std::optional<std::string> exclude_agent;   // not this agent's (shared search)
  std::vector<std::string> namespaces;        // empty: any
  std::vector<Category> categories;           // empty: any
  std::vector<std::string> tags;              // all must be present
  std::optional<Timestamp> since;             // created_at >= since
  std::optional<Timestamp> until;             // created_at <  until
  Timestamp now = 0;                          // expires_at <= now is excluded
};

struct Candidate {
  std::string id;
  double score = 0.0;  // BM25 score, or cosine similarity for dense search
  // The memory's created_at when the backend has it at hand (the store then ranks candidates by
  // recency without reading them, and reads only the `limit` it returns); nullopt: the store reads
  // every candidate's record to rank it.
  std::optional<Timestamp> created_at = std::nullopt;
};

// A set of vectors made with one model. At most one set is active (serves searches); a set being
// built by a reindex is `building` (receives every write too); an old set is `retired` (kept until
// pruned, so switching back only embeds what changed since).
enum class VectorSetState { Active, Building, Retired };
const char* to_string(VectorSetState state);

struct VectorSet {
  int64_t id = 0;
  ModelIdentity model;
  VectorSetState state = VectorSetState::Building;
  Timestamp created_at = 0;
  size_t vectors = 0;  // how many memories have a vector in this set
};

// One memory's vector in one set.
struct VectorWrite {
  int64_t set_id = 0;
  std::vector<float> values;  // dims of the set, L2-normalised
};

struct MemoryWrite {
  MemoryEntry entry;
  std::vector<VectorWrite> vectors;
  bool keep_other_vectors = false;
};

// A memory still lacking a vector in some set (reindex work item).
struct PendingText {
  std::string id;
  std::string content;
};

// Thread safety: every method may be called from many threads at once. Each mutating call is one
// transaction: on an exception nothing of it is stored. Durability: once a mutating call returns
// the change survives a crash of the process (and, for SQLite, of the machine).
class MemoryBackend {
 public:
  virtual ~MemoryBackend() = default;
  virtual std::string describe() const = 0;  // "sqlite:/data/dir", "postgresql://..."

  // Rows. `put` inserts or replaces each memory (by entry.id) with its text index entry and the
  // given vectors, all in one transaction; vectors a memory held in sets not listed are removed
  // (they are stale) unless keep_other_vectors (a metadata-only update).
  virtual void put(const std::vector<MemoryWrite>& writes) = 0;
  // The memory regardless of agent or expiry (the store checks both); nullopt when absent.
  virtual std::optional<MemoryEntry> get(const std::string& id) = 0;
  virtual std::vector<MemoryEntry> get_many(const std::vector<std::string>& ids) = 0;
  virtual bool remove(const std::string& id) = 0;
  virtual bool set_shared(const std::string& id, bool shared) = 0;
  virtual size_t count(const Filter& filter) = 0;
  virtual size_t purge_expired(Timestamp now) = 0;
  // Every memory (expired ones too) in id order, `batch` at a time, after `after_id` ("" = start).
  virtual std::vector<MemoryEntry> scan(const std::string& after_id, size_t batch) = 0;

  // Searches. Every result satisfies `filter`; results are the best `k` among ALL that do.
  // Metadata-only: newest first (created_at descending, id descending), score 0.
  virtual std::vector<Candidate> recent(const Filter& filter, size_t k) = 0;
  // Okapi BM25 exactly as retrieval::Bm25Index scores (same tokens, formula and parameters), with
  // N, df and avgdl over all stored memories; only memories sharing a token with the query.
  virtual std::vector<Candidate> lexical_search(const Filter& filter, std::string_view text,
                                                size_t k) = 0;
  // Cosine similarity (dot product of normalised vectors) in vector set `set_id`; memories without
  // a vector in the set are not returned.
  virtual std::vector<Candidate> dense_search(const Filter& filter, int64_t set_id,
                                              const std::vector<float>& query, size_t k) = 0;
  // The vectors of `ids` in `set_id` (for MMR); absent ones are missing from the result.
  virtual std::vector<std::pair<std::string, std::vector<float>>> vectors(
      int64_t set_id, const std::vector<std::string>& ids) = 0;

  // Vector sets.
  virtual std::vector<VectorSet> vector_sets() = 0;
  virtual int64_t create_vector_set(const ModelIdentity& model, VectorSetState state) = 0;
  // One transaction: the active set (if any) becomes retired, `set_id` becomes active.
  virtual void activate_vector_set(int64_t set_id) = 0;
  virtual void set_vector_set_state(int64_t set_id, VectorSetState state) = 0;
  virtual void drop_vector_set(int64_t set_id) = 0;
  // Memories without a vector in `set_id`, in id order after `after_id`, at most `batch`.
  virtual std::vector<PendingText> missing_vectors(int64_t set_id, const std::string& after_id,
                                                   size_t batch) = 0;
  virtual size_t missing_vector_count(int64_t set_id) = 0;
  // Stores vectors for existing memories; a memory whose content is no longer PendingText::content
  // (updated since it was read) or that was deleted is skipped, so a racing write always wins.
  virtual void put_vectors(int64_t set_id,
                           const std::vector<std::pair<PendingText, std::vector<float>>>& vectors) = 0;

  // Small persistent settings (calibrated fusion weight, ...).
  virtual std::optional<std::string> setting(const std::string& key) = 0;
  virtual void set_setting(const std::string& key, const std::string& value) = 0;
};

using BackendFactory = std::function<std::unique_ptr<MemoryBackend>(const std::filesystem::path& dir)>;

// SQLite in `data_dir` (created when missing): memories.db in WAL mode with synchronous=FULL,
// records, FTS5 token table and vectors (BLOBs) - the single source of truth. Searches run on
// structures derived from it in memory, built on open and updated on every acknowledged write:
// BM25 postings with top-k by MaxScore, and per vector set the vectors (exact blocked SIMD scan)
// plus an HNSW graph above `ann_threshold` vectors; filters are applied inside every search. A
// second process opening the same directory gets an Io error naming the directory and the
// holder's pid. See docs/memory.md ("Search speed") for the trade-offs.
struct SqliteOptions {
  size_t ann_threshold = 50000;  // vectors in a set before an HNSW index serves; 0 = never
  size_t ann_m = 16;             // HNSW links per node
  size_t ann_ef_construction = 100;
  size_t ann_ef_search = 256;    // beam width of a search (at least the candidates asked for); 256: recall@10 0.99 at 100k (docs/memory.md)
  // true: the graph is built in a background thread (exact search serves meanwhile); false: in
  // the call that crosses the threshold, e.g. opening the store (tests, benchmarks).
  bool ann_in_background = true;
  // true: the graph is saved in the data directory (ann-<set>.hnsw + .json manifest) after a
  // build and at close, and loaded, checked and caught up on open instead of rebuilt.
  bool persist_ann = true;
  // false: BM25 computed by SQLite's FTS5 in SQL, the earlier path (a baseline for benchmarks).
  bool lexical_in_memory = true;
};
std::unique_ptr<MemoryBackend> open_sqlite_backend(const std::filesystem::path& data_dir,
                                                   SqliteOptions options = {});

// ---- The store ----------------------------------------------------------------------------------

struct StoreOptions {
  // The model of the active vector set; nullptr = no dense retrieval (BM25 and metadata only),
  // allowed only while the store has no active vector set, or for maintenance (reindex, export,
  // status). A store with an active set opened with another model is an InvalidInput error naming
  // both models and the `memembed memory reindex` command that switches.
  std::shared_ptr<const Embedder> embedder;
  RankingOptions ranking;
  Limits limits;
  bool allow_model_mismatch = false;  // maintenance only: open without the active set's model
  std::string data_label;             // the data directory, for error messages
};

struct StoreStatus {
  std::string backend;
  size_t memories = 0;       // all agents, expired included
  std::vector<VectorSet> vector_sets;
  std::optional<ModelIdentity> serving_model;  // the embedder given at open
  double fusion_weight = 0.0;
  std::string fusion;
};

struct ReindexOptions {
  size_t batch = 256;
  bool prune = false;                        // drop every other vector set after the switch
  const std::atomic<bool>* stop = nullptr;   // when it turns true: finish the batch, return
  // Called once before the first batch (done = memories that already have a vector in the set),
  // then after each batch.
  std::function<void(size_t done, size_t total)> on_progress;
};

struct ReindexResult {
  int64_t set_id = 0;
  size_t embedded = 0;  // vectors made by this call
  size_t total = 0;     // memories in the store
  bool switched = false;
  bool interrupted = false;
  size_t pruned_sets = 0;
};

// The texts fusion calibration learns from (`memory calibrate`, `eval tune-fusion --docs DIR`):
// every unexpired memory, grouped by agent, each agent's in creation order.
std::vector<std::string> calibration_documents(MemoryBackend& backend, Timestamp now);

class MemoryStore {
 public:
  MemoryStore(std::unique_ptr<MemoryBackend> backend, StoreOptions options);
  ~MemoryStore();

  std::string store(const std::string& agent_id, const StoreRequest& request);
  std::vector<MemoryEntry> retrieve(const std::string& agent_id, const Query& query);
  // NotFound when the memory does not exist, belongs to another agent or has expired.
  MemoryEntry get(const std::string& agent_id, const std::string& id);
  MemoryEntry update(const std::string& agent_id, const std::string& id, const UpdateRequest& request);
  void remove(const std::string& agent_id, const std::string& id);  // NotFound as get
  size_t count(const std::string& agent_id, std::optional<Category> category = std::nullopt);

  void publish(const std::string& agent_id, const std::string& id);  // NotFound as get
  void retract(const std::string& agent_id, const std::string& id);
  std::vector<MemoryEntry> search_shared(const Query& query,
                                         const std::optional<std::string>& exclude_agent = std::nullopt);

  size_t purge_expired();
  StoreStatus status();

  // Export/import (JSONL backup): one record per line, optionally with the active set's vector.
  // Import keeps ids and timestamps (round trip exact); vectors are reused when their model is the
  // serving one, else re-embedded.
  void export_jsonl(std::ostream& out, bool with_vectors);
  size_t import_jsonl(std::istream& in, std::string_view where);

  // Model switch: embeds every memory with `target` into its vector set (created, or resumed when
  // one exists for that model) in batches, while the active set keeps serving; writes made
  // meanwhile through this store are embedded for both. When complete the switch is one
  // transaction. Interrupted (stop, crash): rerun to resume.
  ReindexResult reindex(std::shared_ptr<const Embedder> target, const ReindexOptions& options);

  // Chooses the dense fusion weight on the store's own memories (calibration_documents, through
  // retrieval::tune_fusion_on_documents: self-supervised queries and the conservative rule) with
  // the serving model, and stores it: searches without an explicit RankingOptions::fusion_weight
  // use it from then on.
  retrieval::FusionTuning calibrate_fusion();

  MemoryBackend& backend();
  const StoreOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The Embedder of a sentence-transformers model directory (or ORG/NAME from the pull cache), or of
// an endpoint addressed as openai:URL#MODEL (provider::open_provider; no prompts). Queries get the model's "query" prompt and documents its "document" prompt when it has them
// (config_sentence_transformers.json), as sentence-transformers' encode_query/encode_document do.
std::shared_ptr<const Embedder> load_model_embedder(const std::string& model,
                                                    const embed::EncoderOptions& options = {});

// The Embedder an embedder config describes (docs/embedder-config.md): model_path, else `model`
// through the pull cache; with fine_tune.enabled the checkpoint when it exists, else the base
// model and a warning naming the missing path (appended to `warnings`). Queries are prompted per
// category with select::format_query, documents with document_prompt. `dims` smaller than the
// model's truncates (Matryoshka); larger is InvalidInput. Provider "openai" embeds through
// `endpoint` with `model`, `api_key` and the `client` settings; its vectors must have `dims`
// (InvalidInput naming both sizes otherwise).
std::shared_ptr<const Embedder> load_config_embedder(const select::EmbedderConfig& config,
                                                     const embed::EncoderOptions& options,
                                                     std::vector<std::string>& warnings);

}  // namespace memembed::memory
