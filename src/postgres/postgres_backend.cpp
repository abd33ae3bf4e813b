#include "memembed/postgres.h"

#include "memembed/error.h"
#include "memembed/retrieval.h"
#include "entry_row.h"
#include "lexical_mirror.h"
#include "pg_connection.h"
#include "vector_sets_channel.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <thread>
#include <cstdlib>
#include <map>
#include <set>
#include <unordered_map>

namespace memembed::postgres {

namespace {

using memory::Candidate;
using memory::Category;
using memory::Filter;
using memory::MemoryEntry;
using memory::ModelIdentity;
using memory::PendingText;
using memory::VectorSet;
using memory::VectorSetState;
using memory::VectorWrite;

// Advisory lock keys ("memembed" schema creation, reindex).
constexpr int64_t kSchemaLockKey = 0x6d656d5f73636865;
constexpr int64_t kReindexLockKey = 0x6d656d5f72656978;
// Held (per transaction) while a vector set becomes active: servers opening one empty database at
// once would otherwise both insert an active set, and the second would fail on the unique index.
constexpr int64_t kActiveSetLockKey = 0x6d656d5f61637476;
constexpr int64_t kIndexLockKey = 0x6d656d5f696e6400;  // + the vector set's id
constexpr int kStatsShards = 16;
// pgvector indexes `vector` columns of at most 2000 dimensions; larger sets are searched exactly.
constexpr size_t kMaxIndexedDims = 2000;

// Other processes' watch_active_model hears of a switch when the transaction commits.
void notify_switch(PgConnection& conn) { conn.run(std::string("NOTIFY ") + kVectorSetsChannel); }

const char* kSchema = R"sql(
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE IF NOT EXISTS memembed_memories (
  id text COLLATE "C" PRIMARY KEY,
  agent_id text NOT NULL,
  namespace text NOT NULL,
  category text NOT NULL,
  content text NOT NULL,
  source text NOT NULL,
  confidence double precision NOT NULL,
  tags text[] NOT NULL,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  expires_at bigint,
  shared boolean NOT NULL,
  doc_length integer NOT NULL
);
CREATE INDEX IF NOT EXISTS memembed_memories_agent ON memembed_memories (agent_id, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS memembed_memories_shared ON memembed_memories (created_at DESC) WHERE shared;
CREATE INDEX IF NOT EXISTS memembed_memories_tags ON memembed_memories USING gin (tags);
CREATE INDEX IF NOT EXISTS memembed_memories_expiry ON memembed_memories (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS memembed_postings (
  term text COLLATE "C" NOT NULL,
  memory_id text COLLATE "C" NOT NULL REFERENCES memembed_memories (id) ON DELETE CASCADE,
  tf integer NOT NULL,
  PRIMARY KEY (term, memory_id)
);
CREATE INDEX IF NOT EXISTS memembed_postings_memory ON memembed_postings (memory_id, term);
CREATE TABLE IF NOT EXISTS memembed_bm25_stats (
  shard integer PRIMARY KEY,
  documents bigint NOT NULL,
  total_length bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS memembed_vector_sets (
  id bigserial PRIMARY KEY,
  model_name text NOT NULL,
  fingerprint text NOT NULL,
  dims integer NOT NULL,
  state text NOT NULL,
  created_at bigint NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS memembed_one_active_set ON memembed_vector_sets ((true)) WHERE state = 'active';
CREATE TABLE IF NOT EXISTS memembed_settings (key text PRIMARY KEY, value text NOT NULL);
)sql";

// The stats shard a memory's length is counted in (an SQL expression over the text `id`): writes to
// different memories rarely wait for the same row.
std::string shard_of(const std::string& id) { return fmt::format("abs(hashtext({})) % {}", id, kStatsShards); }

std::string vector_literal(const std::vector<float>& values) { return fmt::format("[{}]", fmt::join(values, ",")); }

std::vector<float> parse_vector(const std::string& text) {
  std::vector<float> values;
  const char* p = text.c_str();
  if (*p == '[') ++p;
  while (*p && *p != ']') {
    char* end = nullptr;
    values.push_back(std::strtof(p, &end));
    p = end;
    if (*p == ',') ++p;
  }
  return values;
}

std::string vectors_table(int64_t set_id) { return fmt::format("memembed_vectors_{}", set_id); }

VectorSetState parse_state(const std::string& text) {
  if (text == "active") return VectorSetState::Active;
  if (text == "building") return VectorSetState::Building;
  if (text == "retired") return VectorSetState::Retired;
  throw make_error(ErrorKind::Internal, "memembed_vector_sets: unknown state \"{}\"", text);
}

std::string state_name(VectorSetState state) {
  switch (state) {
    case VectorSetState::Active: return "active";
    case VectorSetState::Building: return "building";
    case VectorSetState::Retired: return "retired";
  }
  return "retired";
}

// $n placeholders for a statement's parameters, in order.
struct Params {
  std::vector<Param> values;
  std::string add(Param value) {
    values.push_back(std::move(value));
    return "$" + std::to_string(values.size());
  }
};

// The filter as a WHERE condition on alias m; everything the filter says is in it.
std::string where(const Filter& filter, Params& params) {
  std::vector<std::string> terms;
  if (filter.agent_id) terms.push_back("m.agent_id = " + params.add(*filter.agent_id));
  if (filter.shared_only) terms.push_back("m.shared");
  if (filter.exclude_agent) terms.push_back("m.agent_id <> " + params.add(*filter.exclude_agent));
  if (!filter.namespaces.empty()) terms.push_back("m.namespace = ANY(" + params.add(array_literal(filter.namespaces)) + "::text[])");
  if (!filter.categories.empty()) {
    std::vector<std::string> names;
    for (Category category : filter.categories) names.emplace_back(memory::to_string(category));
    terms.push_back("m.category = ANY(" + params.add(array_literal(names)) + "::text[])");
  }
  if (!filter.tags.empty()) terms.push_back("m.tags @> " + params.add(array_literal(filter.tags)) + "::text[]");
  if (filter.since) terms.push_back("m.created_at >= " + params.add(std::to_string(*filter.since)));
  if (filter.until) terms.push_back("m.created_at < " + params.add(std::to_string(*filter.until)));
  terms.push_back("(m.expires_at IS NULL OR m.expires_at > " + params.add(std::to_string(filter.now)) + ")");
  std::string out;
  for (const std::string& term : terms) out += (out.empty() ? "" : " AND ") + term;
  return out;
}

// Runs `body` in a transaction, again when PostgreSQL aborts it for a deadlock or a serialization
// conflict (another process's concurrent write); other errors propagate.
template <typename Body>
auto in_transaction(PgPool& pool, Body&& body) {
  for (int attempt = 1;; ++attempt) {
    auto conn = pool.acquire();
    try {
      PgTransaction tx(*conn);
      if constexpr (std::is_void_v<decltype(body(*conn))>) {
        body(*conn);
        tx.commit();
        return;
      } else {
        auto result = body(*conn);
        tx.commit();
        return result;
      }
    } catch (const PgError& e) {
      const bool retry = e.sqlstate() == "40P01" || e.sqlstate() == "40001";
      if (!retry || attempt >= 5) throw;
    }
  }
}

// Builds each vector set's HNSW index once the set holds `hnsw_threshold` vectors: in the
// background, with CREATE INDEX CONCURRENTLY so writes go on, and under an advisory lock so one
// process builds it. Until then (and while it builds) searches are exact. pgvector inserts into
// an HNSW graph one vector at a time are slow; building the graph once over many vectors is not.
class HnswIndexer {
 public:
  HnswIndexer(std::string url, PostgresOptions options) : url_(std::move(url)), options_(options) {
    thread_ = std::thread([this] { run(); });
  }
  ~HnswIndexer() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
      if (building_ != nullptr) {
        // A build in progress is cancelled (the invalid index it leaves is dropped and rebuilt later).
        if (PGcancel* cancel = PQgetCancel(building_)) {
          char error[256];
          PQcancel(cancel, error, sizeof error);
          PQfreeCancel(cancel);
        }
      }
    }
    wake_.notify_all();
    thread_.join();
  }
  void poke() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      poked_ = true;
    }
    wake_.notify_all();
  }

 private:
  void run() {
    std::unique_ptr<PgConnection> conn;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait_for(lock, std::chrono::seconds(30), [&] { return stop_ || poked_; });
        if (stop_) return;
        poked_ = false;
      }
      try {
        if (!conn || !conn->healthy()) {
          conn = std::make_unique<PgConnection>(url_);
          conn->run("SET maintenance_work_mem = '256MB'");
        }
        build_missing(*conn);
      } catch (const std::exception&) {
        conn.reset();  // retried on the next round; searches stay exact meanwhile
      }
      // At most one round every few seconds: counting a large set is not free.
      std::unique_lock<std::mutex> lock(mutex_);
      if (wake_.wait_for(lock, std::chrono::seconds(5), [&] { return stop_; })) return;
    }
  }

  void build_missing(PgConnection& conn) {
    const PgResult sets = conn.run("SELECT id, dims FROM memembed_vector_sets ORDER BY id");
    for (int i = 0; i < sets.rows(); ++i) {
      const int64_t set_id = sets.integer(i, 0);
      if (static_cast<size_t>(sets.integer(i, 1)) > kMaxIndexedDims) continue;
      const std::string table = vectors_table(set_id);
      const std::string index = table + "_hnsw";
      const PgResult state = conn.run(
          "SELECT i.indisvalid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid WHERE c.relname = $1", {index});
      if (state.rows() == 1 && state.boolean(0, 0)) continue;
      if (static_cast<size_t>(conn.run(fmt::format("SELECT count(*) FROM {}", table)).integer(0, 0)) <
          options_.hnsw_threshold) {
        continue;
      }
      const std::string key = std::to_string(kIndexLockKey + set_id);
      if (!conn.run("SELECT pg_try_advisory_lock($1)", {key}).boolean(0, 0)) continue;  // another process builds it
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stop_) return;
        building_ = conn.handle();
      }
      try {
        if (state.rows() == 1) conn.run(fmt::format("DROP INDEX CONCURRENTLY IF EXISTS {}", index));
        conn.run(fmt::format("CREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON {} USING hnsw (embedding vector_ip_ops) "
                             "WITH (m = {}, ef_construction = {})",
                             index, table, options_.hnsw_m, options_.hnsw_ef_construction));
      } catch (const PgError&) {
        // Cancelled, or the set was dropped meanwhile: the next round looks again.
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        building_ = nullptr;
      }
      conn.run("SELECT pg_advisory_unlock($1)", {key});
    }
  }

  std::string url_;
  PostgresOptions options_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  bool poked_ = true;  // look once at start-up
  PGconn* building_ = nullptr;
  std::thread thread_;
};

class PostgresBackend : public memory::MemoryBackend {
 public:
  PostgresBackend(const std::string& url, PostgresOptions options)
      : options_(options), pool_(url, options.connections), label_(redact_url(url)), indexer_(url, options) {
    auto conn = pool_.acquire();
    conn->run("SELECT pg_advisory_lock($1)", {std::to_string(kSchemaLockKey)});
    try {
      conn->run_script(kSchema);
      conn->run_script(kChangeLogSchema);
      conn->run(fmt::format("INSERT INTO memembed_bm25_stats SELECT s, 0, 0 FROM generate_series(0, {}) s "
                            "ON CONFLICT DO NOTHING",
                            kStatsShards - 1));
    } catch (...) {
      conn->run("SELECT pg_advisory_unlock($1)", {std::to_string(kSchemaLockKey)});
      throw;
    }
    conn->run("SELECT pg_advisory_unlock($1)", {std::to_string(kSchemaLockKey)});
    if (options_.lexical_in_memory) lexical_ = std::make_unique<LexicalMirror>(pool_);
  }

  std::string describe() const override { return label_; }

  // ---- Rows ----

  void put(const std::vector<memory::MemoryWrite>& writes) override {
    if (writes.empty()) return;
    std::vector<std::string> ids;
    for (const memory::MemoryWrite& write : writes) ids.push_back(write.entry.id);
    in_transaction(pool_, [&](PgConnection& conn) {
      // New memories go in with one statement per table; replacements (and an id repeated in
      // the batch) one by one, after them.
      const PgResult existing =
          conn.run("SELECT id FROM memembed_memories WHERE id = ANY($1::text[]) FOR UPDATE", {array_literal(ids)});
      std::set<std::string> seen;
      for (int i = 0; i < existing.rows(); ++i) seen.insert(existing.text(i, 0));
      std::vector<const memory::MemoryWrite*> fresh, replacing;
      for (const memory::MemoryWrite& write : writes) {
        (seen.insert(write.entry.id).second ? fresh : replacing).push_back(&write);
      }
      insert_new(conn, fresh);
      for (const memory::MemoryWrite* write : replacing) put_one(conn, *write);
      record_changes(conn, ids);
    });
    indexer_.poke();
  }

  std::optional<MemoryEntry> get(const std::string& id) override {
    auto conn = pool_.acquire();
    const PgResult r = conn->run(fmt::format("SELECT {} FROM memembed_memories m WHERE m.id = $1", kEntryColumns), {id});
    if (r.rows() == 0) return std::nullopt;
    return entry_from_row(r, 0);
  }

  std::vector<MemoryEntry> get_many(const std::vector<std::string>& ids) override {
    if (ids.empty()) return {};
    auto conn = pool_.acquire();
    const PgResult r = conn->run(
        fmt::format("SELECT {} FROM memembed_memories m WHERE m.id = ANY($1::text[])", kEntryColumns), {array_literal(ids)});
    std::unordered_map<std::string, MemoryEntry> found;
    for (int i = 0; i < r.rows(); ++i) {
      MemoryEntry entry = entry_from_row(r, i);
      found.emplace(entry.id, std::move(entry));
    }
    std::vector<MemoryEntry> out;
    for (const std::string& id : ids) {
      if (auto it = found.find(id); it != found.end()) out.push_back(it->second);
    }
    return out;
  }

  bool remove(const std::string& id) override {
    return in_transaction(pool_, [&](PgConnection& conn) {
      const PgResult gone = conn.run("DELETE FROM memembed_memories WHERE id = $1 RETURNING doc_length", {id});
      if (gone.rows() == 0) return false;
      conn.run(fmt::format("UPDATE memembed_bm25_stats SET documents = documents - 1, total_length = total_length - $2 "
                           "WHERE shard = {}",
                           shard_of("$1::text")),
               {id, gone.text(0, 0)});
      record_changes(conn, {id});
      return true;
    });
  }

  bool set_shared(const std::string& id, bool shared) override {
    return in_transaction(pool_, [&](PgConnection& conn) {
      if (conn.run("UPDATE memembed_memories SET shared = $2 WHERE id = $1 RETURNING 1", {id, shared ? "true" : "false"})
              .rows() == 0) {
        return false;
      }
      record_changes(conn, {id});
      return true;
    });
  }

  size_t count(const Filter& filter) override {
    Params params;
    const std::string condition = where(filter, params);
    auto conn = pool_.acquire();
    return static_cast<size_t>(
        conn->run("SELECT count(*) FROM memembed_memories m WHERE " + condition, params.values).integer(0, 0));
  }

  size_t purge_expired(memory::Timestamp now) override {
    return in_transaction(pool_, [&](PgConnection& conn) {
      const PgResult r = conn.run(
          fmt::format("WITH gone AS (DELETE FROM memembed_memories WHERE expires_at IS NOT NULL AND expires_at <= $1 "
                      "RETURNING id, doc_length), "
                      "per_shard AS (SELECT {} AS shard, count(*) AS n, sum(doc_length) AS len FROM gone GROUP BY 1), "
                      "changed AS (UPDATE memembed_bm25_stats s SET documents = s.documents - p.n, "
                      "total_length = s.total_length - p.len FROM per_shard p WHERE s.shard = p.shard) "
                      "SELECT id FROM gone",
                      shard_of("id")),
          {std::to_string(now)});
      std::vector<std::string> ids;
      for (int i = 0; i < r.rows(); ++i) ids.push_back(r.text(i, 0));
      record_changes(conn, ids);
      return ids.size();
    });
  }

  std::vector<MemoryEntry> scan(const std::string& after_id, size_t batch) override {
    auto conn = pool_.acquire();
    const PgResult r =
        conn->run(fmt::format("SELECT {} FROM memembed_memories m WHERE m.id > $1 ORDER BY m.id LIMIT $2", kEntryColumns),
                  {after_id, std::to_string(batch)});
    std::vector<MemoryEntry> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(entry_from_row(r, i));
    return out;
  }

  // ---- Searches ----

  std::vector<Candidate> recent(const Filter& filter, size_t k) override {
    Params params;
    const std::string condition = where(filter, params);
    const std::string limit = params.add(std::to_string(k));
    auto conn = pool_.acquire();
    const PgResult r = conn->run(
        "SELECT m.id FROM memembed_memories m WHERE " + condition + " ORDER BY m.created_at DESC, m.id DESC LIMIT " + limit,
        params.values);
    std::vector<Candidate> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back({r.text(i, 0), 0.0});
    return out;
  }

  std::vector<Candidate> lexical_search(const Filter& filter, std::string_view text, size_t k) override {
    if (lexical_) return lexical_->search(filter, text, k);
    const std::vector<std::string> tokens = retrieval::bm25_tokenize(text);
    if (tokens.empty() || k == 0) return {};
    const retrieval::Bm25Parameters bm25;
    Params params;
    const std::string query_terms = params.add(array_literal(tokens));
    const std::string k1 = params.add(fmt::format("{}", bm25.k1));
    const std::string b = params.add(fmt::format("{}", bm25.b));
    const std::string condition = where(filter, params);
    const std::string limit = params.add(std::to_string(k));
    // retrieval's Okapi BM25: idf over every stored memory, a repeated query token counts each time.
    const std::string sql =
        "WITH query AS (SELECT term, count(*) AS repeats FROM unnest(" + query_terms + "::text[]) AS term GROUP BY term), "
        "stats AS (SELECT sum(documents)::float8 AS n, sum(total_length)::float8 AS total FROM memembed_bm25_stats), "
        "frequency AS (SELECT p.term, count(*)::float8 AS df FROM memembed_postings p "
        "  JOIN query q ON q.term = p.term GROUP BY p.term), "
        "weights AS (SELECT q.term, q.repeats * ln(1 + (s.n - f.df + 0.5) / (f.df + 0.5)) AS idf "
        "  FROM query q JOIN frequency f ON f.term = q.term CROSS JOIN stats s) "
        "SELECT m.id, sum(w.idf * p.tf * (" + k1 + "::float8 + 1) / (p.tf + " + k1 + "::float8 * (1 - " + b +
        "::float8 + " + b + "::float8 * m.doc_length / (CASE WHEN s.total > 0 THEN s.total / s.n ELSE 1 END)))) AS score "
        "FROM weights w JOIN memembed_postings p ON p.term = w.term "
        "JOIN memembed_memories m ON m.id = p.memory_id CROSS JOIN stats s "
        "WHERE " + condition + " GROUP BY m.id ORDER BY score DESC, m.id LIMIT " + limit;
    auto conn = pool_.acquire();
    const PgResult r = conn->run(sql, params.values);
    std::vector<Candidate> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back({r.text(i, 0), r.real(i, 1)});
    return out;
  }

  std::vector<Candidate> dense_search(const Filter& filter, int64_t set_id, const std::vector<float>& query,
                                      size_t k) override {
    if (k == 0) return {};
    const size_t dims = set_dims(set_id);
    if (query.size() != dims) {
      throw invalid_input("dense search: the query has {} dims, vector set {} has {}", query.size(), set_id, dims);
    }
    Params params;
    const std::string vector = params.add(vector_literal(query));
    const std::string condition = where(filter, params);
    const std::string limit = params.add(std::to_string(k));
    const std::string table = vectors_table(set_id);
    auto conn = pool_.acquire();

    // How many memories the filter lets through, counted up to the threshold only.
    Params count_params;
    const std::string count_condition = where(filter, count_params);
    const int64_t matching =
        conn->run(fmt::format("SELECT count(*) FROM (SELECT 1 FROM memembed_memories m WHERE {} LIMIT {}) s",
                              count_condition, options_.exact_threshold),
                  count_params.values)
            .integer(0, 0);
    const auto read = [](const PgResult& r) {
      std::vector<Candidate> out;
      for (int i = 0; i < r.rows(); ++i) out.push_back({r.text(i, 0), -r.real(i, 1)});
      return out;
    };
    // Exact: every vector the filter lets through (the `+ 0` keeps the planner off the index).
    const std::string exact = fmt::format(
        "SELECT v.memory_id, (v.embedding <#> {0}::vector) + 0 AS distance FROM {1} v "
        "JOIN memembed_memories m ON m.id = v.memory_id WHERE {2} ORDER BY distance, v.memory_id LIMIT {3}",
        vector, table, condition, limit);
    if (static_cast<size_t>(matching) < options_.exact_threshold || dims > kMaxIndexedDims) {
      return read(conn->run(exact, params.values));
    }
    // Approximate: the HNSW index scanned iteratively until k rows pass the filter, re-sorted.
    std::vector<Candidate> found;
    {
      PgTransaction tx(*conn);
      conn->run("SET LOCAL hnsw.iterative_scan = relaxed_order");
      conn->run(fmt::format("SET LOCAL hnsw.ef_search = {}", std::max<size_t>(options_.hnsw_ef_search, std::min<size_t>(k, 1000))));
      found = read(conn->run(
          fmt::format("WITH nearest AS MATERIALIZED (SELECT v.memory_id, v.embedding <#> {0}::vector AS distance FROM {1} v "
                      "JOIN memembed_memories m ON m.id = v.memory_id WHERE {2} ORDER BY v.embedding <#> {0}::vector "
                      "LIMIT {3}) SELECT memory_id, distance FROM nearest ORDER BY distance, memory_id",
                      vector, table, condition, limit),
          params.values));
      tx.commit();
    }
    if (found.size() < k) return read(conn->run(exact, params.values));  // the scan gave up early
    return found;
  }

  std::vector<std::pair<std::string, std::vector<float>>> vectors(int64_t set_id,
                                                                  const std::vector<std::string>& ids) override {
    if (ids.empty()) return {};
    auto conn = pool_.acquire();
    const PgResult r = conn->run(
        fmt::format("SELECT memory_id, embedding::text FROM {} WHERE memory_id = ANY($1::text[])", vectors_table(set_id)),
        {array_literal(ids)});
    std::vector<std::pair<std::string, std::vector<float>>> out;
    for (int i = 0; i < r.rows(); ++i) out.emplace_back(r.text(i, 0), parse_vector(r.text(i, 1)));
    return out;
  }

  // ---- Vector sets ----

  std::vector<VectorSet> vector_sets() override {
    auto conn = pool_.acquire();
    const PgResult r =
        conn->run("SELECT id, model_name, fingerprint, dims, state, created_at FROM memembed_vector_sets ORDER BY id");
    std::vector<VectorSet> out;
    for (int i = 0; i < r.rows(); ++i) {
      VectorSet set;
      set.id = r.integer(i, 0);
      set.model = {r.text(i, 1), r.text(i, 2), static_cast<size_t>(r.integer(i, 3))};
      set.state = parse_state(r.text(i, 4));
      set.created_at = r.integer(i, 5);
      set.vectors = static_cast<size_t>(
          conn->run(fmt::format("SELECT count(*) FROM {}", vectors_table(set.id))).integer(0, 0));
      out.push_back(set);
    }
    return out;
  }

  int64_t create_vector_set(const ModelIdentity& model, VectorSetState state) override {
    const int64_t id = in_transaction(pool_, [&](PgConnection& conn) -> int64_t {
      if (state == VectorSetState::Active) {
        conn.run("SELECT pg_advisory_xact_lock($1)", {std::to_string(kActiveSetLockKey)});
        // Another process adopted the same model first: that set is this one.
        const PgResult adopted = conn.run(
            "SELECT id FROM memembed_vector_sets WHERE state = 'active' AND fingerprint = $1 AND dims = $2",
            {model.fingerprint, std::to_string(model.dims)});
        if (adopted.rows() > 0) return adopted.integer(0, 0);
        conn.run("UPDATE memembed_vector_sets SET state = 'retired' WHERE state = 'active'");
        notify_switch(conn);
      }
      const int64_t set_id =
          conn.run("INSERT INTO memembed_vector_sets (model_name, fingerprint, dims, state, created_at) "
                   "VALUES ($1, $2, $3, $4, $5) RETURNING id",
                   {model.name, model.fingerprint, std::to_string(model.dims), state_name(state),
                    std::to_string(memory::now_micros())})
              .integer(0, 0);
      const std::string table = vectors_table(set_id);
      conn.run(fmt::format("CREATE TABLE {} (memory_id text COLLATE \"C\" PRIMARY KEY REFERENCES memembed_memories (id) "
                           "ON DELETE CASCADE, embedding vector({}) NOT NULL)",
                           table, model.dims));
      if (model.dims <= kMaxIndexedDims && options_.hnsw_threshold == 0) {
        conn.run(fmt::format("CREATE INDEX {0}_hnsw ON {0} USING hnsw (embedding vector_ip_ops) "
                             "WITH (m = {1}, ef_construction = {2})",
                             table, options_.hnsw_m, options_.hnsw_ef_construction));
      }
      return set_id;
    });
    std::lock_guard<std::mutex> lock(dims_mutex_);
    dims_[id] = model.dims;
    return id;
  }

  void activate_vector_set(int64_t set_id) override { set_vector_set_state(set_id, VectorSetState::Active); }

  void set_vector_set_state(int64_t set_id, VectorSetState state) override {
    in_transaction(pool_, [&](PgConnection& conn) {
      if (state == VectorSetState::Active) {
        conn.run("SELECT pg_advisory_xact_lock($1)", {std::to_string(kActiveSetLockKey)});
        conn.run("UPDATE memembed_vector_sets SET state = 'retired' WHERE state = 'active' AND id <> $1",
                 {std::to_string(set_id)});
        notify_switch(conn);
      }
      const PgResult r = conn.run("UPDATE memembed_vector_sets SET state = $2 WHERE id = $1 RETURNING 1",
                                  {std::to_string(set_id), state_name(state)});
      if (r.rows() == 0) throw not_found("vector set {} does not exist in {}", set_id, label_);
    });
  }

  void drop_vector_set(int64_t set_id) override {
    in_transaction(pool_, [&](PgConnection& conn) {
      conn.run("DELETE FROM memembed_vector_sets WHERE id = $1", {std::to_string(set_id)});
      conn.run(fmt::format("DROP TABLE IF EXISTS {}", vectors_table(set_id)));
    });
    std::lock_guard<std::mutex> lock(dims_mutex_);
    dims_.erase(set_id);
  }

  std::vector<PendingText> missing_vectors(int64_t set_id, const std::string& after_id, size_t batch) override {
    auto conn = pool_.acquire();
    const PgResult r = conn->run(
        fmt::format("SELECT m.id, m.content FROM memembed_memories m WHERE m.id > $1 AND NOT EXISTS "
                    "(SELECT 1 FROM {} v WHERE v.memory_id = m.id) ORDER BY m.id LIMIT $2",
                    vectors_table(set_id)),
        {after_id, std::to_string(batch)});
    std::vector<PendingText> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back({r.text(i, 0), r.text(i, 1)});
    return out;
  }

  size_t missing_vector_count(int64_t set_id) override {
    auto conn = pool_.acquire();
    return static_cast<size_t>(
        conn->run(fmt::format("SELECT count(*) FROM memembed_memories m WHERE NOT EXISTS "
                              "(SELECT 1 FROM {} v WHERE v.memory_id = m.id)",
                              vectors_table(set_id)))
            .integer(0, 0));
  }

  void put_vectors(int64_t set_id,
                   const std::vector<std::pair<PendingText, std::vector<float>>>& vectors) override {
    if (vectors.empty()) return;
    std::vector<std::string> ids, contents, values;
    for (const auto& [pending, vector] : vectors) {
      ids.push_back(pending.id);
      contents.push_back(pending.content);
      values.push_back(vector_literal(vector));
    }
    // Only where the memory still exists with the content that was embedded: a racing write wins.
    in_transaction(pool_, [&](PgConnection& conn) {
      conn.run(fmt::format("INSERT INTO {} (memory_id, embedding) SELECT m.id, x.embedding::vector "
                           "FROM unnest($1::text[], $2::text[], $3::text[]) AS x(id, content, embedding) "
                           "JOIN memembed_memories m ON m.id = x.id AND m.content = x.content "
                           "ON CONFLICT (memory_id) DO NOTHING",
                           vectors_table(set_id)),
               {array_literal(ids), array_literal(contents), array_literal(values)});
    });
    indexer_.poke();
  }

  // ---- Settings ----

  std::optional<std::string> setting(const std::string& key) override {
    auto conn = pool_.acquire();
    const PgResult r = conn->run("SELECT value FROM memembed_settings WHERE key = $1", {key});
    if (r.rows() == 0) return std::nullopt;
    return r.text(0, 0);
  }

  void set_setting(const std::string& key, const std::string& value) override {
    auto conn = pool_.acquire();
    conn->run("INSERT INTO memembed_settings (key, value) VALUES ($1, $2) "
              "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
              {key, value});
  }

 private:
  // Memories whose ids are not stored yet: rows, postings, statistics and vectors, one statement
  // per table, inside the caller's transaction.
  void insert_new(PgConnection& conn, const std::vector<const memory::MemoryWrite*>& writes) {
    if (writes.empty()) return;
    std::vector<std::string> ids, agents, namespaces, categories, contents, sources, confidences, tags, created, updated,
        expires, shared, lengths;
    std::vector<std::string> posting_terms, posting_ids, posting_tfs;
    std::map<int64_t, std::pair<std::vector<std::string>, std::vector<std::string>>> vectors;  // set -> ids, values
    for (const memory::MemoryWrite* write : writes) {
      const MemoryEntry& entry = write->entry;
      const std::vector<std::string> tokens = retrieval::bm25_tokenize(entry.content);
      std::map<std::string, int> frequencies;
      for (const std::string& token : tokens) ++frequencies[token];
      for (const auto& [term, tf] : frequencies) {
        posting_terms.push_back(term);
        posting_ids.push_back(entry.id);
        posting_tfs.push_back(std::to_string(tf));
      }
      ids.push_back(entry.id);
      agents.push_back(entry.agent_id);
      namespaces.push_back(entry.namespace_);
      categories.emplace_back(memory::to_string(entry.category));
      contents.push_back(entry.content);
      sources.push_back(entry.metadata.source);
      confidences.push_back(fmt::format("{}", entry.metadata.confidence));
      tags.push_back(Json(entry.metadata.tags).dump());
      created.push_back(std::to_string(entry.created_at));
      updated.push_back(std::to_string(entry.updated_at));
      expires.push_back(entry.expires_at ? std::to_string(*entry.expires_at) : "");
      shared.push_back(entry.shared ? "true" : "false");
      lengths.push_back(std::to_string(tokens.size()));
      for (const VectorWrite& vector : write->vectors) {
        auto& [set_ids, values] = vectors[vector.set_id];
        set_ids.push_back(entry.id);
        values.push_back(vector_literal(vector.values));
      }
    }
    conn.run("INSERT INTO memembed_memories (id, agent_id, namespace, category, content, source, confidence, tags, "
             "created_at, updated_at, expires_at, shared, doc_length) "
             "SELECT x.id, x.agent, x.ns, x.category, x.content, x.source, x.confidence, "
             "ARRAY(SELECT json_array_elements_text(x.tags::json)), x.created, x.updated, "
             "NULLIF(x.expires, '')::bigint, x.shared, x.length "
             "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::float8[], "
             "$8::text[], $9::int8[], $10::int8[], $11::text[], $12::bool[], $13::int[]) "
             "AS x(id, agent, ns, category, content, source, confidence, tags, created, updated, expires, shared, length)",
             {array_literal(ids), array_literal(agents), array_literal(namespaces), array_literal(categories),
              array_literal(contents), array_literal(sources), array_literal(confidences), array_literal(tags),
              array_literal(created), array_literal(updated), array_literal(expires), array_literal(shared),
              array_literal(lengths)});
    if (!posting_terms.empty()) {
      conn.run("INSERT INTO memembed_postings (term, memory_id, tf) SELECT * FROM unnest($1::text[], $2::text[], $3::int[])",
               {array_literal(posting_terms), array_literal(posting_ids), array_literal(posting_tfs)});
    }
    conn.run(fmt::format("UPDATE memembed_bm25_stats s SET documents = s.documents + d.n, "
                         "total_length = s.total_length + d.total FROM (SELECT {} AS shard, count(*) AS n, "
                         "sum(x.length) AS total FROM unnest($1::text[], $2::int[]) AS x(id, length) GROUP BY 1) d "
                         "WHERE s.shard = d.shard",
                         shard_of("x.id")),
             {array_literal(ids), array_literal(lengths)});
    for (const auto& [set_id, rows] : vectors) {
      conn.run(fmt::format("INSERT INTO {} (memory_id, embedding) SELECT x.id, x.embedding::vector "
                           "FROM unnest($1::text[], $2::text[]) AS x(id, embedding)",
                           vectors_table(set_id)),
               {array_literal(rows.first), array_literal(rows.second)});
    }
  }

  // One memory's row, postings, statistics and vectors, inside the caller's transaction.
  void put_one(PgConnection& conn, const memory::MemoryWrite& write) {
    const MemoryEntry& entry = write.entry;
    const std::vector<VectorWrite>& vectors = write.vectors;
    std::map<std::string, int> frequencies;
    const std::vector<std::string> tokens = retrieval::bm25_tokenize(entry.content);
    for (const std::string& token : tokens) ++frequencies[token];
    std::vector<std::string> terms, counts;
    for (const auto& [term, tf] : frequencies) {
      terms.push_back(term);
      counts.push_back(std::to_string(tf));
    }
    const std::string length = std::to_string(tokens.size());
    const std::vector<Param> row = {
        entry.id,
        entry.agent_id,
        entry.namespace_,
        std::string(memory::to_string(entry.category)),
        entry.content,
        entry.metadata.source,
        fmt::format("{}", entry.metadata.confidence),
        array_literal(entry.metadata.tags),
        std::to_string(entry.created_at),
        std::to_string(entry.updated_at),
        entry.expires_at ? Param(std::to_string(*entry.expires_at)) : std::nullopt,
        entry.shared ? "true" : "false",
        length};
    const bool inserted =
        conn.run("INSERT INTO memembed_memories (id, agent_id, namespace, category, content, source, confidence, "
                 "tags, created_at, updated_at, expires_at, shared, doc_length) "
                 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text[], $9, $10, $11, $12, $13) "
                 "ON CONFLICT (id) DO NOTHING RETURNING 1",
                 row)
            .rows() == 1;
    int64_t documents_delta = 1;
    int64_t length_delta = static_cast<int64_t>(tokens.size());
    if (!inserted) {
      const PgResult old = conn.run("SELECT doc_length FROM memembed_memories WHERE id = $1 FOR UPDATE", {entry.id});
      documents_delta = 0;
      length_delta -= old.integer(0, 0);
      conn.run("UPDATE memembed_memories SET agent_id = $2, namespace = $3, category = $4, content = $5, source = $6, "
               "confidence = $7, tags = $8::text[], created_at = $9, updated_at = $10, expires_at = $11, "
               "shared = $12, doc_length = $13 WHERE id = $1",
               row);
      conn.run("DELETE FROM memembed_postings WHERE memory_id = $1", {entry.id});
    }
    if (!terms.empty()) {
      conn.run("INSERT INTO memembed_postings (term, memory_id, tf) "
               "SELECT t.term, $1, t.tf FROM unnest($2::text[], $3::int[]) AS t(term, tf)",
               {entry.id, array_literal(terms), array_literal(counts)});
    }
    if (documents_delta != 0 || length_delta != 0) {
      conn.run(fmt::format("UPDATE memembed_bm25_stats SET documents = documents + $2, total_length = total_length + $3 "
                           "WHERE shard = {}",
                           shard_of("$1::text")),
               {entry.id, std::to_string(documents_delta), std::to_string(length_delta)});
    }
    for (const VectorWrite& vector : vectors) {
      conn.run(fmt::format("INSERT INTO {} (memory_id, embedding) VALUES ($1, $2::vector) "
                           "ON CONFLICT (memory_id) DO UPDATE SET embedding = EXCLUDED.embedding",
                           vectors_table(vector.set_id)),
               {entry.id, vector_literal(vector.values)});
    }
    if (!inserted && !write.keep_other_vectors) {
      const PgResult sets = conn.run("SELECT id FROM memembed_vector_sets");
      for (int i = 0; i < sets.rows(); ++i) {
        const int64_t set_id = sets.integer(i, 0);
        const bool written = std::any_of(vectors.begin(), vectors.end(),
                                         [&](const VectorWrite& v) { return v.set_id == set_id; });
        if (!written) conn.run(fmt::format("DELETE FROM {} WHERE memory_id = $1", vectors_table(set_id)), {entry.id});
      }
    }
  }

  size_t set_dims(int64_t set_id) {
    {
      std::lock_guard<std::mutex> lock(dims_mutex_);
      if (auto it = dims_.find(set_id); it != dims_.end()) return it->second;
    }
    auto conn = pool_.acquire();
    const PgResult r = conn->run("SELECT dims FROM memembed_vector_sets WHERE id = $1", {std::to_string(set_id)});
    if (r.rows() == 0) throw not_found("vector set {} does not exist in {}", set_id, label_);
    std::lock_guard<std::mutex> lock(dims_mutex_);
    return dims_[set_id] = static_cast<size_t>(r.integer(0, 0));
  }

  PostgresOptions options_;
  PgPool pool_;
  std::string label_;
  std::mutex dims_mutex_;
  std::map<int64_t, size_t> dims_;
  std::unique_ptr<LexicalMirror> lexical_;  // null: BM25 in SQL (PostgresOptions::lexical_in_memory)
  HnswIndexer indexer_;  // last: stopped before the pool goes
};

}  // namespace

std::unique_ptr<memory::MemoryBackend> open_postgres_backend(const std::string& url, PostgresOptions options) {
  return std::make_unique<PostgresBackend>(url, options);
}

std::shared_ptr<void> try_lock_reindex(const std::string& url) {
  auto conn = std::make_shared<PgConnection>(url);
  if (!conn->run("SELECT pg_try_advisory_lock($1)", {std::to_string(kReindexLockKey)}).boolean(0, 0)) return nullptr;
  // Closing the session releases the lock.
  return conn;
}

}  // namespace memembed::postgres
