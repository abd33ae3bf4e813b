// The embedded default backend: one data directory, SQLite as the single source of truth.
//
// Durability: WAL journal with synchronous=FULL, so the WAL is fsynced at every commit and an
// acknowledged write survives kill -9 and power loss (NORMAL would survive a process crash but
// may lose the last commits on power loss; the extra fsync per write is the price).
// Searches run on structures derived from the database and held in memory, built on open and
// updated after every commit, under one shared_mutex (searches shared, updates exclusive):
//  - MemoryRows: each memory's filter attributes by slot, so filters are checked inside searches;
//  - LexicalIndex: BM25 postings, top-k term at a time (the store ranks exactly as `eval --model bm25`);
//  - VectorIndex per vector set: the vectors (BLOBs of float32 in the database), exact blocked SIMD
//    scan, and an HNSW graph once the set holds SqliteOptions::ann_threshold vectors.
// The database also keeps an FTS5 table of each memory's tokens (retrieval::bm25_tokenize joined by
// spaces, which FTS5's ascii tokenizer splits exactly there) with N, lengths and postings kept
// transactionally; with SqliteOptions::lexical_in_memory = false BM25 is computed there in SQL by
// the memembed_bm25() ranking function (the earlier path; benchmarks compare against it).
// One process: an exclusive flock on <dir>/LOCK, held while open.
#include "memembed/error.h"
#include "memembed/memory.h"
#include "memembed/retrieval.h"
#include "lexical_index.h"
#include "memory_rows.h"
#include "sqlite_db.h"
#include "vector_index.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <variant>

namespace memembed::memory {

namespace fs = std::filesystem;

namespace {

constexpr int kSchemaVersion = 1;

const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS memories (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  agent_id TEXT NOT NULL,
  namespace TEXT NOT NULL,
  category TEXT NOT NULL,
  content TEXT NOT NULL,
  source TEXT NOT NULL,
  confidence REAL NOT NULL,
  tags TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  expires_at INTEGER,
  shared INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS memories_agent ON memories(agent_id, created_at);
CREATE INDEX IF NOT EXISTS memories_shared ON memories(shared, created_at) WHERE shared = 1;
CREATE INDEX IF NOT EXISTS memories_expiry ON memories(expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS memory_tags (
  tag TEXT NOT NULL,
  seq INTEGER NOT NULL REFERENCES memories(seq) ON DELETE CASCADE,
  PRIMARY KEY (tag, seq)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS memory_tags_seq ON memory_tags(seq);
CREATE VIRTUAL TABLE IF NOT EXISTS memory_text USING fts5(tokens, tokenize = 'ascii');
CREATE VIRTUAL TABLE IF NOT EXISTS memory_vocab USING fts5vocab(memory_text, 'row');
CREATE TABLE IF NOT EXISTS vector_sets (
  id INTEGER PRIMARY KEY,
  model_name TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  dims INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('active', 'building', 'retired')),
  created_at INTEGER NOT NULL,
  UNIQUE (fingerprint, dims));
CREATE UNIQUE INDEX IF NOT EXISTS one_active_set ON vector_sets(state) WHERE state = 'active';
CREATE TABLE IF NOT EXISTS vectors (
  set_id INTEGER NOT NULL REFERENCES vector_sets(id) ON DELETE CASCADE,
  seq INTEGER NOT NULL REFERENCES memories(seq) ON DELETE CASCADE,
  embedding BLOB NOT NULL,
  PRIMARY KEY (set_id, seq)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS vectors_seq ON vectors(seq);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
)sql";

const char* kEntryColumns =
    "m.id, m.agent_id, m.namespace, m.category, m.content, m.source, m.confidence, m.tags, "
    "m.created_at, m.updated_at, m.expires_at, m.shared";

MemoryEntry read_entry(const Statement& s, int first = 0) {
  MemoryEntry e;
  e.id = s.column_text(first + 0);
  e.agent_id = s.column_text(first + 1);
  e.namespace_ = s.column_text(first + 2);
  e.category = parse_category(s.column_text(first + 3), "memories.category");
  e.content = s.column_text(first + 4);
  e.metadata.source = s.column_text(first + 5);
  e.metadata.confidence = s.column_double(first + 6);
  for (const Json& tag : Json::parse(s.column_text(first + 7))) e.metadata.tags.push_back(tag.get<std::string>());
  e.created_at = s.column_int(first + 8);
  e.updated_at = s.column_int(first + 9);
  e.expires_at = s.column_optional_int(first + 10);
  e.shared = s.column_int(first + 11) != 0;
  return e;
}

VectorSetState parse_state(const std::string& text) {
  if (text == "active") return VectorSetState::Active;
  if (text == "building") return VectorSetState::Building;
  return VectorSetState::Retired;
}

std::string tokens_text(std::string_view content) {
  std::string out;
  for (const std::string& token : retrieval::bm25_tokenize(content)) {
    if (!out.empty()) out += ' ';
    out += token;
  }
  return out;
}

// An FTS5 query matching any of `tokens`; a token repeated in the query is repeated here, so it
// counts each time (as in retrieval::Bm25Index).
std::string match_expression(const std::vector<std::string>& tokens) {
  std::string out;
  for (const std::string& token : tokens) {
    if (!out.empty()) out += " OR ";
    out += '"' + token + '"';  // tokens hold letters, marks and digits only: nothing to escape
  }
  return out;
}

// ---- memembed_bm25(): retrieval's BM25 over FTS5's statistics -----------------------------------

struct Bm25QueryStats {
  std::vector<double> idf;  // per phrase (query token)
  double average_length = 1.0;
};


// memembed_bm25(memory_text, df): `df` is a BLOB of one double per query token (phrase), its
// document frequency read from the vocabulary table before the query (counting rows here would scan).
void bm25_function(const Fts5ExtensionApi* api, Fts5Context* fts, sqlite3_context* context, int argc,
                   sqlite3_value** argv) {
  const auto* parameters = static_cast<const retrieval::Bm25Parameters*>(api->xUserData(fts));
  auto* stats = static_cast<Bm25QueryStats*>(api->xGetAuxdata(fts, 0));
  if (stats == nullptr) {
    auto fresh = std::make_unique<Bm25QueryStats>();
    sqlite3_int64 rows = 0, total = 0;
    if (api->xRowCount(fts, &rows) != SQLITE_OK || api->xColumnTotalSize(fts, 0, &total) != SQLITE_OK) {
      sqlite3_result_error(context, "memembed_bm25: cannot read the index statistics", -1);
      return;
    }
    fresh->average_length = rows > 0 && total > 0 ? static_cast<double>(total) / static_cast<double>(rows) : 1.0;
    const int phrases = api->xPhraseCount(fts);
    if (argc != 1 || sqlite3_value_bytes(argv[0]) != static_cast<int>(phrases * sizeof(double))) {
      sqlite3_result_error(context, "memembed_bm25: expected one document frequency per query token", -1);
      return;
    }
    std::vector<double> df(static_cast<size_t>(phrases));
    std::memcpy(df.data(), sqlite3_value_blob(argv[0]), df.size() * sizeof(double));
    for (double d : df) fresh->idf.push_back(retrieval::bm25_idf(static_cast<double>(rows), d));
    stats = fresh.get();
    if (api->xSetAuxdata(fts, fresh.release(), [](void* p) { delete static_cast<Bm25QueryStats*>(p); }) != SQLITE_OK) {
      sqlite3_result_error(context, "memembed_bm25: out of memory", -1);
      return;
    }
  }
  std::vector<double> tf(stats->idf.size(), 0.0);
  int instances = 0;
  api->xInstCount(fts, &instances);
  for (int i = 0; i < instances; ++i) {
    int phrase = 0, column = 0, offset = 0;
    if (api->xInst(fts, i, &phrase, &column, &offset) == SQLITE_OK && phrase >= 0 &&
        static_cast<size_t>(phrase) < tf.size()) {
      tf[static_cast<size_t>(phrase)] += 1.0;
    }
  }
  int length = 0;
  api->xColumnSize(fts, 0, &length);
  const double norm = retrieval::bm25_length_norm(*parameters, length, stats->average_length);
  double score = 0.0;
  for (size_t p = 0; p < tf.size(); ++p) {
    if (tf[p] > 0.0) score += retrieval::bm25_term(*parameters, stats->idf[p], tf[p], norm);
  }
  sqlite3_result_double(context, score);
}

const retrieval::Bm25Parameters kBm25Parameters{};

void register_bm25(SqliteDb& db) {
  fts5_api* api = nullptr;
  Statement s(db, "SELECT fts5(?1)");
  sqlite3_bind_pointer(s.handle(), 1, &api, "fts5_api_ptr", nullptr);
  s.step();
  if (api == nullptr) throw unsupported("{}: this SQLite has no FTS5", db.path().string());
  if (api->xCreateFunction(api, "memembed_bm25", const_cast<retrieval::Bm25Parameters*>(&kBm25Parameters),
                           bm25_function, nullptr) != SQLITE_OK) {
    db.fail("registering memembed_bm25");
  }
}

// ---- Filters as SQL -----------------------------------------------------------------------------

using BindValue = std::variant<int64_t, std::string>;

struct SqlFilter {
  std::string where;  // "(...) AND (...)" on alias m; never empty
  std::vector<BindValue> binds;
};

SqlFilter to_sql(const Filter& filter) {
  SqlFilter sql;
  std::vector<std::string> terms;
  auto placeholders = [&](const auto& values, auto&& to_bind) {
    std::string list;
    for (const auto& v : values) {
      if (!list.empty()) list += ", ";
      list += '?';
      sql.binds.push_back(to_bind(v));
    }
    return list;
  };
  if (filter.agent_id) {
    terms.push_back("m.agent_id = ?");
    sql.binds.push_back(*filter.agent_id);
  }
  if (filter.shared_only) terms.push_back("m.shared = 1");
  if (filter.exclude_agent) {
    terms.push_back("m.agent_id <> ?");
    sql.binds.push_back(*filter.exclude_agent);
  }
  if (!filter.namespaces.empty()) {
    terms.push_back("m.namespace IN (" +
                    placeholders(filter.namespaces, [](const std::string& s) { return BindValue(s); }) + ")");
  }
  if (!filter.categories.empty()) {
    terms.push_back("m.category IN (" +
                    placeholders(filter.categories, [](Category c) { return BindValue(std::string(to_string(c))); }) +
                    ")");
  }
  if (filter.since) {
    terms.push_back("m.created_at >= ?");
    sql.binds.push_back(*filter.since);
  }
  if (filter.until) {
    terms.push_back("m.created_at < ?");
    sql.binds.push_back(*filter.until);
  }
  terms.push_back("(m.expires_at IS NULL OR m.expires_at > ?)");
  sql.binds.push_back(filter.now);
  if (!filter.tags.empty()) {
    std::vector<std::string> tags = filter.tags;
    std::sort(tags.begin(), tags.end());
    tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
    terms.push_back("m.seq IN (SELECT seq FROM memory_tags WHERE tag IN (" +
                    placeholders(tags, [](const std::string& s) { return BindValue(s); }) +
                    ") GROUP BY seq HAVING count(*) = " + std::to_string(tags.size()) + ")");
  }
  for (size_t i = 0; i < terms.size(); ++i) sql.where += (i ? " AND " : "") + terms[i];
  return sql;
}

int bind_all(Statement& s, const std::vector<BindValue>& binds, int first) {
  for (const BindValue& v : binds) {
    if (const auto* i = std::get_if<int64_t>(&v)) s.bind(first++, *i);
    else s.bind(first++, std::get<std::string>(v));
  }
  return first;
}

// ---- The process lock ---------------------------------------------------------------------------

class DirectoryLock {
 public:
  explicit DirectoryLock(const fs::path& dir) {
    const fs::path path = dir / "LOCK";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw io_error("{}: cannot open the lock file: {}", path.string(), std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      const int error = errno;
      char buffer[32] = {0};
      const ssize_t n = ::pread(fd_, buffer, sizeof(buffer) - 1, 0);
      ::close(fd_);
      fd_ = -1;
      if (error == EWOULDBLOCK) {
        throw io_error(
            "{}: the memory store is in use by another process (pid {}); one process at a time may open "
            "an embedded store - stop it, or serve the store over HTTP (memembed serve) and share that",
            dir.string(), n > 0 ? std::string(buffer, static_cast<size_t>(n)) : "unknown");
      }
      throw io_error("{}: cannot lock the store: {}", path.string(), std::strerror(error));
    }
    const std::string pid = std::to_string(::getpid());
    if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) < 0) {
      // The pid is only for the message a second process prints; the lock itself holds.
    }
  }
  ~DirectoryLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the flock
  }

 private:
  int fd_ = -1;
};

// ---- The backend --------------------------------------------------------------------------------

std::vector<float> blob_vector(const Statement& s, int column, size_t dims, std::string_view id) {
  const size_t bytes = s.column_bytes(column);
  if (bytes != dims * sizeof(float)) {
    throw make_error(ErrorKind::InvalidInput, "memory {}: stored vector has {} bytes, expected {} ({} dims)", id,
                     bytes, dims * sizeof(float), dims);
  }
  std::vector<float> v(dims);
  std::memcpy(v.data(), s.column_blob(column), bytes);
  return v;
}

class SqliteBackend : public MemoryBackend {
 public:
  SqliteBackend(const fs::path& dir, SqliteOptions options) : dir_(dir), options_(options) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (!fs::is_directory(dir)) throw io_error("{}: cannot create the data directory", dir.string());
    lock_ = std::make_unique<DirectoryLock>(dir);
    writer_ = open_connection();
    const int64_t version = [&] {
      Statement s(*writer_, "PRAGMA user_version");
      s.step();
      return s.column_int(0);
    }();
    if (version > kSchemaVersion) {
      throw unsupported("{}: store schema version {} is newer than this memembed understands ({})",
                        db_path().string(), version, kSchemaVersion);
    }
    writer_->exec(kSchema);
    writer_->exec("PRAGMA user_version = " + std::to_string(kSchemaVersion));
    load_rows();
    for (const VectorSet& set : vector_sets()) {
      if (set.state == VectorSetState::Active) loaded_index(set.id);
    }
  }

  std::string describe() const override { return "sqlite:" + dir_.string(); }

  void put(const std::vector<MemoryWrite>& writes) override {
    std::lock_guard write(write_mutex_);
    {
      Transaction tx(*writer_);
      Statement upsert(*writer_,
                       "INSERT INTO memories (id, agent_id, namespace, category, content, source, confidence, tags, "
                       "created_at, updated_at, expires_at, shared) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
                       "?10, ?11, ?12) ON CONFLICT(id) DO UPDATE SET agent_id = ?2, namespace = ?3, category = ?4, "
                       "content = ?5, source = ?6, confidence = ?7, tags = ?8, created_at = ?9, updated_at = ?10, "
                       "expires_at = ?11, shared = ?12 RETURNING seq");
      Statement clear_text(*writer_, "DELETE FROM memory_text WHERE rowid = ?");
      Statement text(*writer_, "INSERT INTO memory_text (rowid, tokens) VALUES (?, ?)");
      Statement clear_tags(*writer_, "DELETE FROM memory_tags WHERE seq = ?");
      Statement tag(*writer_, "INSERT OR IGNORE INTO memory_tags (tag, seq) VALUES (?, ?)");
      Statement clear_vectors(*writer_, "DELETE FROM vectors WHERE seq = ?");
      Statement vec(*writer_, "INSERT OR REPLACE INTO vectors (set_id, seq, embedding) VALUES (?, ?, ?)");
      for (const MemoryWrite& w : writes) {
        const MemoryEntry& e = w.entry;
        upsert.bind(1, e.id).bind(2, e.agent_id).bind(3, e.namespace_).bind(4, std::string_view(to_string(e.category)));
        upsert.bind(5, e.content).bind(6, e.metadata.source).bind(7, e.metadata.confidence);
        upsert.bind(8, Json(e.metadata.tags).dump()).bind(9, e.created_at).bind(10, e.updated_at);
        upsert.bind(11, e.expires_at).bind(12, int64_t{e.shared});
        if (!upsert.step()) writer_->fail("upsert returned no row");
        const int64_t seq = upsert.column_int(0);
        upsert.reset();
        clear_text.bind(1, seq).run();
        text.bind(1, seq).bind(2, tokens_text(e.content)).run();
        clear_tags.bind(1, seq).run();
        for (const std::string& t : e.metadata.tags) tag.bind(1, t).bind(2, seq).run();
        if (!w.keep_other_vectors) clear_vectors.bind(1, seq).run();
        for (const VectorWrite& v : w.vectors) {
          vec.bind(1, v.set_id).bind(2, seq).bind_blob(3, v.values.data(), v.values.size() * sizeof(float)).run();
        }
      }
      tx.commit();
    }
    std::unique_lock index_lock(index_mutex_);
    for (const MemoryWrite& w : writes) {
      const uint32_t slot = rows_.upsert(w.entry);
      lexical_.put(slot, w.entry.content);
      for (auto& [set_id, index] : indexes_) {
        auto written = std::find_if(w.vectors.begin(), w.vectors.end(),
                                    [&, id = set_id](const VectorWrite& v) { return v.set_id == id; });
        if (written != w.vectors.end()) index->put(slot, written->values.data());
        else if (!w.keep_other_vectors) index->remove(slot);
      }
    }
  }

  std::optional<MemoryEntry> get(const std::string& id) override {
    auto found = get_many({id});
    if (found.empty()) return std::nullopt;
    return found.front();
  }

  std::vector<MemoryEntry> get_many(const std::vector<std::string>& ids) override {
    std::vector<MemoryEntry> out;
    auto db = reader();
    for (size_t begin = 0; begin < ids.size(); begin += 256) {
      const size_t end = std::min(ids.size(), begin + 256);
      std::string sql = fmt::format("SELECT {} FROM memories m WHERE m.id IN (", kEntryColumns);
      for (size_t i = begin; i < end; ++i) sql += i == begin ? "?" : ", ?";
      Statement s(*db, sql + ")");
      for (size_t i = begin; i < end; ++i) s.bind(static_cast<int>(i - begin + 1), ids[i]);
      while (s.step()) out.push_back(read_entry(s));
    }
    // In the order asked for.
    std::map<std::string, size_t> order;
    for (size_t i = 0; i < ids.size(); ++i) order.try_emplace(ids[i], i);
    std::sort(out.begin(), out.end(), [&](const MemoryEntry& a, const MemoryEntry& b) { return order[a.id] < order[b.id]; });
    return out;
  }

  bool remove(const std::string& id) override {
    std::lock_guard write(write_mutex_);
    bool removed = false;
    {
      Transaction tx(*writer_);
      Statement find(*writer_, "SELECT seq FROM memories WHERE id = ?");
      find.bind(1, id);
      if (find.step()) {
        const int64_t seq = find.column_int(0);
        find.reset();
        Statement(*writer_, "DELETE FROM memory_text WHERE rowid = ?").bind(1, seq).run();
        Statement(*writer_, "DELETE FROM memories WHERE seq = ?").bind(1, seq).run();
        removed = true;
      }
      tx.commit();
    }
    if (removed) {
      std::unique_lock index_lock(index_mutex_);
      const uint32_t slot = rows_.remove(id);
      if (slot != MemoryRows::kNone) {
        lexical_.remove(slot);
        for (auto& [set_id, index] : indexes_) index->remove(slot);
      }
    }
    return removed;
  }

  bool set_shared(const std::string& id, bool shared) override {
    std::lock_guard write(write_mutex_);
    Statement s(*writer_, "UPDATE memories SET shared = ? WHERE id = ?");
    s.bind(1, int64_t{shared}).bind(2, id).run();
    const bool changed = sqlite3_changes(writer_->handle()) > 0;
    std::unique_lock index_lock(index_mutex_);
    rows_.set_shared(id, shared);
    return changed;
  }

  size_t count(const Filter& filter) override {
    const SqlFilter sql = to_sql(filter);
    auto db = reader();
    Statement s(*db, "SELECT count(*) FROM memories m WHERE " + sql.where);
    bind_all(s, sql.binds, 1);
    s.step();
    return static_cast<size_t>(s.column_int(0));
  }

  size_t purge_expired(Timestamp now) override {
    std::vector<std::string> ids;
    {
      auto db = reader();
      Statement s(*db, "SELECT id FROM memories WHERE expires_at IS NOT NULL AND expires_at <= ?");
      s.bind(1, now);
      while (s.step()) ids.push_back(s.column_text(0));
    }
    size_t removed = 0;
    for (const std::string& id : ids) removed += remove(id) ? 1 : 0;
    return removed;
  }

  std::vector<MemoryEntry> scan(const std::string& after_id, size_t batch) override {
    auto db = reader();
    Statement s(*db, fmt::format("SELECT {} FROM memories m WHERE m.id > ? ORDER BY m.id LIMIT ?", kEntryColumns));
    s.bind(1, after_id).bind(2, static_cast<int64_t>(batch));
    std::vector<MemoryEntry> out;
    while (s.step()) out.push_back(read_entry(s));
    return out;
  }

  std::vector<Candidate> recent(const Filter& filter, size_t k) override {
    const SqlFilter sql = to_sql(filter);
    auto db = reader();
    Statement s(*db, "SELECT m.id FROM memories m WHERE " + sql.where +
                         " ORDER BY m.created_at DESC, m.id DESC LIMIT ?");
    const int next = bind_all(s, sql.binds, 1);
    s.bind(next, static_cast<int64_t>(k));
    std::vector<Candidate> out;
    while (s.step()) out.push_back({s.column_text(0), 0.0});
    return out;
  }

  std::vector<Candidate> lexical_search(const Filter& filter, std::string_view text, size_t k) override {
    if (!options_.lexical_in_memory) return lexical_search_in_sql(filter, text, k);
    std::shared_lock lock(index_mutex_);
    const RowFilter admits(rows_, filter);
    std::vector<Candidate> out;
    for (const LexicalIndex::Hit& hit : lexical_.search(text, admits, rows_, k)) {
      out.push_back({rows_.id(hit.slot), hit.score, rows_.created_at(hit.slot)});
    }
    return out;
  }

  std::vector<Candidate> lexical_search_in_sql(const Filter& filter, std::string_view text, size_t k) {
    const std::vector<std::string> tokens = retrieval::bm25_tokenize(text);
    if (tokens.empty()) return {};
    const SqlFilter sql = to_sql(filter);
    auto db = reader();
    // Document frequency per token from the vocabulary; one transaction keeps it on the snapshot
    // the search reads.
    db->exec("BEGIN");
    struct EndRead {
      SqliteDb& db;
      ~EndRead() { sqlite3_exec(db.handle(), "COMMIT", nullptr, nullptr, nullptr); }
    } end_read{*db};
    Statement vocab(*db, "SELECT doc FROM memory_vocab WHERE term = ?");
    std::vector<double> df;
    for (const std::string& token : tokens) {
      vocab.bind(1, token);
      df.push_back(vocab.step() ? static_cast<double>(vocab.column_int(0)) : 0.0);
      vocab.reset();
    }
    Statement s(*db,
                "SELECT m.id, memembed_bm25(memory_text, ?) AS score FROM memory_text JOIN memories m ON m.seq = "
                "memory_text.rowid WHERE memory_text MATCH ? AND " +
                    sql.where + " ORDER BY score DESC, m.id LIMIT ?");
    s.bind_blob(1, df.data(), df.size() * sizeof(double));
    s.bind(2, match_expression(tokens));
    const int next = bind_all(s, sql.binds, 3);
    s.bind(next, static_cast<int64_t>(k));
    std::vector<Candidate> out;
    while (s.step()) out.push_back({s.column_text(0), s.column_double(1)});
    return out;
  }

  std::vector<Candidate> dense_search(const Filter& filter, int64_t set_id, const std::vector<float>& query,
                                      size_t k) override {
    std::shared_ptr<VectorIndex> index = loaded_index(set_id);
    if (query.size() != index->dims()) {
      throw invalid_input("dense search: query has {} dims, vector set {} has {}", query.size(), set_id, index->dims());
    }
    std::shared_lock lock(index_mutex_);
    const RowFilter admits(rows_, filter);
    std::vector<Candidate> out;
    for (const VectorIndex::Hit& hit : index->search(query.data(), admits, rows_, k)) {
      out.push_back({rows_.id(hit.slot), hit.score, rows_.created_at(hit.slot)});
    }
    return out;
  }

  std::vector<std::pair<std::string, std::vector<float>>> vectors(int64_t set_id,
                                                                  const std::vector<std::string>& ids) override {
    const size_t dims = set_dims(set_id);
    std::vector<std::pair<std::string, std::vector<float>>> out;
    auto db = reader();
    Statement s(*db, "SELECT v.embedding FROM vectors v JOIN memories m ON m.seq = v.seq WHERE v.set_id = ? AND m.id = ?");
    for (const std::string& id : ids) {
      s.bind(1, set_id).bind(2, id);
      if (s.step()) out.emplace_back(id, blob_vector(s, 0, dims, id));
      s.reset();
    }
    return out;
  }

  std::vector<VectorSet> vector_sets() override {
    auto db = reader();
    Statement s(*db,
                "SELECT s.id, s.model_name, s.fingerprint, s.dims, s.state, s.created_at, "
                "(SELECT count(*) FROM vectors v WHERE v.set_id = s.id) FROM vector_sets s ORDER BY s.id");
    std::vector<VectorSet> out;
    while (s.step()) {
      VectorSet set;
      set.id = s.column_int(0);
      set.model = {s.column_text(1), s.column_text(2), static_cast<size_t>(s.column_int(3))};
      set.state = parse_state(s.column_text(4));
      set.created_at = s.column_int(5);
      set.vectors = static_cast<size_t>(s.column_int(6));
      out.push_back(set);
    }
    return out;
  }

  int64_t create_vector_set(const ModelIdentity& model, VectorSetState state) override {
    std::lock_guard write(write_mutex_);
    Transaction tx(*writer_);
    if (state == VectorSetState::Active) {
      Statement(*writer_, "UPDATE vector_sets SET state = 'retired' WHERE state = 'active'").run();
    }
    Statement s(*writer_,
                "INSERT INTO vector_sets (model_name, fingerprint, dims, state, created_at) VALUES (?, ?, ?, ?, ?) "
                "RETURNING id");
    s.bind(1, model.name).bind(2, model.fingerprint).bind(3, static_cast<int64_t>(model.dims));
    s.bind(4, std::string_view(to_string(state))).bind(5, now_micros());
    if (!s.step()) writer_->fail("creating a vector set");
    const int64_t id = s.column_int(0);
    s.reset();
    tx.commit();
    return id;
  }

  void activate_vector_set(int64_t set_id) override {
    std::lock_guard write(write_mutex_);
    Transaction tx(*writer_);
    Statement(*writer_, "UPDATE vector_sets SET state = 'retired' WHERE state = 'active' AND id <> ?").bind(1, set_id).run();
    Statement(*writer_, "UPDATE vector_sets SET state = 'active' WHERE id = ?").bind(1, set_id).run();
    if (sqlite3_changes(writer_->handle()) != 1) throw not_found("vector set {} does not exist", set_id);
    tx.commit();
  }

  void set_vector_set_state(int64_t set_id, VectorSetState state) override {
    if (state == VectorSetState::Active) return activate_vector_set(set_id);
    std::lock_guard write(write_mutex_);
    Statement(*writer_, "UPDATE vector_sets SET state = ? WHERE id = ?")
        .bind(1, std::string_view(to_string(state))).bind(2, set_id).run();
  }

  void drop_vector_set(int64_t set_id) override {
    std::lock_guard write(write_mutex_);
    {
      Transaction tx(*writer_);
      Statement(*writer_, "DELETE FROM vectors WHERE set_id = ?").bind(1, set_id).run();
      Statement(*writer_, "DELETE FROM vector_sets WHERE id = ?").bind(1, set_id).run();
      tx.commit();
    }
    std::shared_ptr<VectorIndex> dropped;
    {
      std::unique_lock index_lock(index_mutex_);
      if (auto it = indexes_.find(set_id); it != indexes_.end()) {
        dropped = std::move(it->second);
        dropped->discard_saved_graph();
        indexes_.erase(it);
      }
    }
    // `dropped` goes here, outside the lock: its graph builder may be waiting for it.
  }

  std::vector<PendingText> missing_vectors(int64_t set_id, const std::string& after_id, size_t batch) override {
    auto db = reader();
    Statement s(*db,
                "SELECT m.id, m.content FROM memories m WHERE m.id > ? AND NOT EXISTS (SELECT 1 FROM vectors v "
                "WHERE v.set_id = ? AND v.seq = m.seq) ORDER BY m.id LIMIT ?");
    s.bind(1, after_id).bind(2, set_id).bind(3, static_cast<int64_t>(batch));
    std::vector<PendingText> out;
    while (s.step()) out.push_back({s.column_text(0), s.column_text(1)});
    return out;
  }

  size_t missing_vector_count(int64_t set_id) override {
    auto db = reader();
    Statement s(*db,
                "SELECT (SELECT count(*) FROM memories) - (SELECT count(*) FROM vectors WHERE set_id = ?)");
    s.bind(1, set_id);
    s.step();
    return static_cast<size_t>(s.column_int(0));
  }

  void put_vectors(int64_t set_id, const std::vector<std::pair<PendingText, std::vector<float>>>& items) override {
    std::lock_guard write(write_mutex_);
    std::vector<std::pair<std::string, const std::vector<float>*>> written;
    {
      Transaction tx(*writer_);
      Statement find(*writer_, "SELECT m.seq FROM memories m WHERE m.id = ? AND m.content = ?");
      Statement vec(*writer_, "INSERT OR REPLACE INTO vectors (set_id, seq, embedding) VALUES (?, ?, ?)");
      for (const auto& [pending, values] : items) {
        find.bind(1, pending.id).bind(2, pending.content);
        if (!find.step()) {  // deleted or changed since it was read: the writer's own vectors win
          find.reset();
          continue;
        }
        const int64_t seq = find.column_int(0);
        written.emplace_back(pending.id, &values);
        find.reset();
        vec.bind(1, set_id).bind(2, seq).bind_blob(3, values.data(), values.size() * sizeof(float)).run();
      }
      tx.commit();
    }
    std::unique_lock index_lock(index_mutex_);
    if (auto it = indexes_.find(set_id); it != indexes_.end()) {
      for (const auto& [id, values] : written) {
        if (const uint32_t slot = rows_.slot(id); slot != MemoryRows::kNone) it->second->put(slot, values->data());
      }
    }
  }

  std::optional<std::string> setting(const std::string& key) override {
    auto db = reader();
    Statement s(*db, "SELECT value FROM settings WHERE key = ?");
    s.bind(1, key);
    if (!s.step()) return std::nullopt;
    return s.column_text(0);
  }

  void set_setting(const std::string& key, const std::string& value) override {
    std::lock_guard write(write_mutex_);
    Statement(*writer_, "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
        .bind(1, key).bind(2, value).run();
  }

 private:
  fs::path db_path() const { return dir_ / "memories.db"; }

  std::unique_ptr<SqliteDb> open_connection() {
    auto db = std::make_unique<SqliteDb>(db_path(), false);
    db->exec("PRAGMA journal_mode = WAL");
    db->exec("PRAGMA synchronous = FULL");
    db->exec("PRAGMA foreign_keys = ON");
    register_bm25(*db);
    return db;
  }

  // A connection for reading, returned to the pool when the handle goes out of scope. WAL lets
  // readers run beside the writer, each on its own snapshot.
  struct ReaderDeleter {
    SqliteBackend* backend;
    void operator()(SqliteDb* db) const {
      std::lock_guard lock(backend->pool_mutex_);
      backend->pool_.emplace_back(db);
    }
  };
  std::unique_ptr<SqliteDb, ReaderDeleter> reader() {
    {
      std::lock_guard lock(pool_mutex_);
      if (!pool_.empty()) {
        SqliteDb* db = pool_.back().release();
        pool_.pop_back();
        return {db, ReaderDeleter{this}};
      }
    }
    return {open_connection().release(), ReaderDeleter{this}};
  }

  std::string set_fingerprint(int64_t set_id) {
    auto db = reader();
    Statement s(*db, "SELECT fingerprint FROM vector_sets WHERE id = ?");
    s.bind(1, set_id);
    if (!s.step()) throw not_found("vector set {} does not exist", set_id);
    return s.column_text(0);
  }

  size_t set_dims(int64_t set_id) {
    auto db = reader();
    Statement s(*db, "SELECT dims FROM vector_sets WHERE id = ?");
    s.bind(1, set_id);
    if (!s.step()) throw not_found("vector set {} does not exist", set_id);
    return static_cast<size_t>(s.column_int(0));
  }

  // Every memory's attributes and BM25 postings, from the database (at open, before any write).
  void load_rows() {
    Statement s(*writer_, fmt::format("SELECT {} FROM memories m", kEntryColumns));
    while (s.step()) {
      const MemoryEntry entry = read_entry(s);
      lexical_.put(rows_.upsert(entry), entry.content);
    }
  }

  // The in-memory index of a set, built from the database at open (the active set) or on first
  // use. Built under the write mutex so no write slips between the snapshot and the updates that
  // follow it.
  std::shared_ptr<VectorIndex> loaded_index(int64_t set_id) {
    {
      std::shared_lock lock(index_mutex_);
      if (auto it = indexes_.find(set_id); it != indexes_.end()) return it->second;
    }
    std::lock_guard write(write_mutex_);
    {
      std::shared_lock lock(index_mutex_);
      if (auto it = indexes_.find(set_id); it != indexes_.end()) return it->second;
    }
    const size_t dims = set_dims(set_id);
    AnnOptions ann;
    ann.threshold = options_.ann_threshold;
    ann.parameters = {options_.ann_m, options_.ann_ef_construction, options_.ann_ef_search};
    ann.background = options_.ann_in_background;
    if (options_.persist_ann) {
      ann.graph_file = dir_ / fmt::format("ann-{}.hnsw", set_id);
      ann.identity = fmt::format("set {} of {} ({} dims)", set_id, set_fingerprint(set_id), dims);
    }
    auto index = std::make_shared<VectorIndex>(dims, ann, index_mutex_);
    // Rows change only under the write mutex, held here: reading them needs no index lock.
    Statement s(*writer_, "SELECT m.id, v.embedding FROM vectors v JOIN memories m ON m.seq = v.seq WHERE v.set_id = ?");
    s.bind(1, set_id);
    index->begin_loading();
    while (s.step()) {
      const std::string id = s.column_text(0);
      const uint32_t slot = rows_.slot(id);
      if (slot != MemoryRows::kNone) index->put(slot, blob_vector(s, 1, dims, id).data());
    }
    index->finish_loading(rows_);
    std::unique_lock lock(index_mutex_);
    indexes_[set_id] = index;
    return index;
  }

  fs::path dir_;
  SqliteOptions options_;
  std::unique_ptr<DirectoryLock> lock_;
  std::mutex write_mutex_;
  std::unique_ptr<SqliteDb> writer_;
  std::mutex pool_mutex_;
  std::vector<std::unique_ptr<SqliteDb>> pool_;
  std::shared_mutex index_mutex_;  // guards the derived structures below
  MemoryRows rows_;
  LexicalIndex lexical_{kBm25Parameters};
  std::map<int64_t, std::shared_ptr<VectorIndex>> indexes_;
};

}  // namespace

std::unique_ptr<MemoryBackend> open_sqlite_backend(const fs::path& data_dir, SqliteOptions options) {
  return std::make_unique<SqliteBackend>(data_dir, options);
}

}  // namespace memembed::memory
