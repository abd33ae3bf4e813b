#include "lexical_mirror.h"

#include "entry_row.h"

#include <fmt/format.h>

#include <set>

namespace memembed::postgres {

namespace {

// Held from the change-log insert to commit: change ids commit in the order they are drawn.
constexpr int64_t kChangeLogLockKey = 0x6d656d5f63686e67;
constexpr size_t kLoadBatch = 20000;

}  // namespace

const char* const kChangeLogSchema = R"sql(
CREATE SEQUENCE IF NOT EXISTS memembed_change_seq;
CREATE TABLE IF NOT EXISTS memembed_changes (
  memory_id text COLLATE "C" PRIMARY KEY,
  change_id bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS memembed_changes_order ON memembed_changes (change_id);
)sql";

void record_changes(PgConnection& conn, const std::vector<std::string>& ids) {
  if (ids.empty()) return;
  // One row per id (ON CONFLICT may not touch a row twice), in a fixed order.
  const std::set<std::string> distinct(ids.begin(), ids.end());
  conn.run("SELECT pg_advisory_xact_lock($1)", {std::to_string(kChangeLogLockKey)});
  conn.run("INSERT INTO memembed_changes (memory_id, change_id) "
           "SELECT id, nextval('memembed_change_seq') FROM unnest($1::text[]) AS id "
           "ON CONFLICT (memory_id) DO UPDATE SET change_id = EXCLUDED.change_id",
           {array_literal({distinct.begin(), distinct.end()})});
}

LexicalMirror::LexicalMirror(PgPool& pool) : pool_(pool) {
  auto conn = pool_.acquire();
  PgTransaction tx(*conn);
  conn->run("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
  applied_change_ = conn->run("SELECT coalesce(max(change_id), 0) FROM memembed_changes").integer(0, 0);
  std::string after;
  for (;;) {
    const PgResult r = conn->run(
        fmt::format("SELECT {} FROM memembed_memories m WHERE m.id > $1 ORDER BY m.id LIMIT {}", kEntryColumns, kLoadBatch),
        {after});
    for (int i = 0; i < r.rows(); ++i) {
      const memory::MemoryEntry entry = entry_from_row(r, i);
      lexical_.put(rows_.upsert(entry), entry.content);
    }
    if (static_cast<size_t>(r.rows()) < kLoadBatch) break;
    after = r.text(r.rows() - 1, 0);
  }
  tx.commit();
}

void LexicalMirror::catch_up() {
  const uint64_t arrived_after = rounds_begun_.load();
  std::lock_guard<std::mutex> round(catch_up_mutex_);
  if (rounds_done_ > arrived_after) return;  // a round that began after this search arrived has run
  const uint64_t this_round = ++rounds_begun_;
  auto conn = pool_.acquire();
  const PgResult r = conn->run(
      fmt::format("SELECT c.change_id, c.memory_id, m.id IS NOT NULL, {} FROM memembed_changes c "
                  "LEFT JOIN memembed_memories m ON m.id = c.memory_id WHERE c.change_id > $1 ORDER BY c.change_id",
                  kEntryColumns),
      {std::to_string(applied_change_)});
  if (r.rows() == 0) {
    rounds_done_ = this_round;
    return;
  }
  std::unique_lock<std::shared_mutex> lock(index_mutex_);
  for (int i = 0; i < r.rows(); ++i) {
    if (r.boolean(i, 2)) {
      const memory::MemoryEntry entry = entry_from_row(r, i, 3);
      lexical_.put(rows_.upsert(entry), entry.content);
    } else if (const uint32_t slot = rows_.remove(r.text(i, 1)); slot != memory::MemoryRows::kNone) {
      lexical_.remove(slot);
    }
  }
  applied_change_ = r.integer(r.rows() - 1, 0);
  rounds_done_ = this_round;
}

std::vector<memory::Candidate> LexicalMirror::search(const memory::Filter& filter, std::string_view text, size_t k) {
  catch_up();
  std::shared_lock<std::shared_mutex> lock(index_mutex_);
  const memory::RowFilter admits(rows_, filter);
  std::vector<memory::Candidate> out;
  for (const memory::LexicalIndex::Hit& hit : lexical_.search(text, admits, rows_, k)) {
    out.push_back({rows_.id(hit.slot), hit.score});
  }
  return out;
}

}  // namespace memembed::postgres
