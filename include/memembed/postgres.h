// postgres: the memory store's backend on PostgreSQL + pgvector, for several `memembed serve`
// processes (on several machines) sharing one database.
//
// The same MemoryBackend contract as the embedded SQLite backend (include/memembed/memory.h) and the
// same conformance suite. PostgreSQL is the source of truth and does the durable, concurrent part:
//  - memories in `memembed_memories`; BM25 postings (retrieval::bm25_tokenize tokens, term
//    frequency) in `memembed_postings` and document count / total length in `memembed_bm25_stats`,
//    all updated in the write's transaction, so BM25 scores are retrieval's formula over every
//    stored memory, as the SQLite backend computes them (not ts_rank);
//  - one table per vector set, `memembed_vectors_<id>` (pgvector `vector(dims)`), with an HNSW
//    index on inner product (vectors are unit length), built in the background (CREATE INDEX
//    CONCURRENTLY, one process per set) once the set holds `hnsw_threshold` vectors: pgvector's
//    one-at-a-time graph inserts are far slower than one build; searches are exact until then.
// Filtered dense search never under-fetches: a filter matching fewer than `exact_threshold`
// memories is searched exactly (every matching vector); otherwise the HNSW index is scanned with
// pgvector 0.8's iterative scans (hnsw.iterative_scan = relaxed_order, results re-sorted), and a
// scan that still returns fewer than asked falls back to the exact search.
// The schema is created on first open (under an advisory lock, so processes starting together do
// not race); the connecting role needs CREATE on the database and pgvector installed (the
// `vector` extension is created when missing, which needs the right to do so).
#pragma once

#include "memembed/memory.h"

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace memembed::postgres {

struct PostgresOptions {
  size_t connections = 16;         // pool size per process
  size_t exact_threshold = 2000;   // filters matching fewer memories are searched exactly
  size_t hnsw_threshold = 20000;   // a vector set gets its HNSW index once it holds this many (0: at once)
  int hnsw_m = 16;                 // HNSW graph degree (index build parameter)
  int hnsw_ef_construction = 64;
  int hnsw_ef_search = 100;        // candidates per index scan step (>= the k asked for)
  // BM25 top-k in this process (MaxScore over postings held in memory, caught up with the
  // database before each search); false: aggregated over every matching posting in SQL (the
  // earlier path, a baseline for benchmarks).
  bool lexical_in_memory = true;
};

// Opens (and on first use creates) the store in the database at `url` (postgresql://...).
// Network error naming the server (password redacted) when it cannot connect.
std::unique_ptr<memory::MemoryBackend> open_postgres_backend(const std::string& url, PostgresOptions options = {});

// A reindex of this database is in progress in this process while the returned handle lives (a
// session advisory lock on its own connection); nullptr when another process holds it.
std::shared_ptr<void> try_lock_reindex(const std::string& url);

// Follows the model of the database's active vector set, which a reindex in any process switches:
// calls `on_change` with it (nullopt: no active set) once at start and after every change, on a
// thread of its own, until the returned handle is destroyed (which waits for a call in progress).
// A switch is announced by LISTEN/NOTIFY in the switching transaction; the model is also re-read
// every `recheck` and whenever the watch's connection had to be reopened, so none is missed.
std::shared_ptr<void> watch_active_model(const std::string& url,
                                         std::function<void(const std::optional<memory::ModelIdentity>&)> on_change,
                                         std::chrono::milliseconds recheck = std::chrono::seconds(5));

}  // namespace memembed::postgres
