// BM25 for the PostgreSQL backend, computed in this process on structures derived from the
// database - the embedded store's MemoryRows (filter attributes by slot) and LexicalIndex
// (postings, MaxScore top-k), used through their interfaces - so a search scores only the
// memories that can still reach the top k instead of aggregating every matching posting in SQL.
//
// Keeping several processes consistent: every transaction that changes a memory's row (put,
// remove, set_shared, purge) ends with record_changes(), which stamps each changed id in
// memembed_changes with the next value of memembed_change_seq while holding a transaction-level
// advisory lock until commit - so change ids become visible in increasing order, and once change
// c is visible every change below c is too. The mirror loads every memory on open (one snapshot:
// the rows and the highest change id) and, before each search, reads the changes above the last
// one it applied, each joined to the memory's current row (absent: deleted) in one statement.
// A search therefore sees every write committed - by any process - before it started. Concurrent
// searches share one catch-up: a search waits for a round begun after it arrived instead of
// starting its own.
#pragma once

#include "lexical_index.h"
#include "memembed/memory.h"
#include "memory_rows.h"
#include "pg_connection.h"

#include <atomic>
#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace memembed::postgres {

// Schema of the change log (part of the backend's schema script).
extern const char* const kChangeLogSchema;

// Notes `ids` (repeats allowed) as changed, inside the caller's write transaction; call it last
// in the transaction: the lock it takes is held until commit.
void record_changes(PgConnection& conn, const std::vector<std::string>& ids);

class LexicalMirror {
 public:
  // Loads every memory of the database (in batches, one snapshot).
  explicit LexicalMirror(PgPool& pool);

  // LexicalIndex's top `k` among memories `filter` admits, after catching up with the database.
  std::vector<memory::Candidate> search(const memory::Filter& filter, std::string_view text, size_t k);

 private:
  void catch_up();

  PgPool& pool_;
  std::mutex catch_up_mutex_;            // one round at a time
  std::atomic<uint64_t> rounds_begun_{0};
  uint64_t rounds_done_ = 0;             // the last round that succeeded; guarded by catch_up_mutex_
  int64_t applied_change_ = 0;           // guarded by catch_up_mutex_
  std::shared_mutex index_mutex_;        // searches shared, applying changes exclusive
  memory::MemoryRows rows_;
  memory::LexicalIndex lexical_;
};

}  // namespace memembed::postgres
