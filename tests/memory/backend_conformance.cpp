#include "backend_conformance.h"

#include "fixture_support.h"
#include "memembed/error.h"
#include "memembed/retrieval.h"

#include <atomic>
#include <cmath>
#include <random>
#include <sstream>
#include <thread>

namespace memembed::testing {

using namespace memembed::memory;
namespace fs = std::filesystem;

void BackendConformance::SetUp() { dir_ = temp_.path(); }

void BackendConformance::TearDown() { close(); }

std::unique_ptr<MemoryBackend> BackendConformance::open_backend() { return GetParam().factory(dir_); }

MemoryStore& BackendConformance::store(std::shared_ptr<const Embedder> embedder) {
  if (!store_) {
    StoreOptions options;
    options.embedder = std::move(embedder);
    store_ = std::make_unique<MemoryStore>(open_backend(), options);
  }
  return *store_;
}

void BackendConformance::close() { store_.reset(); }

namespace {

StoreRequest request(std::string content, Category category = Category::Episodic, std::vector<std::string> tags = {},
                     std::string ns = "default") {
  StoreRequest r;
  r.category = category;
  r.namespace_ = std::move(ns);
  r.content = std::move(content);
  r.metadata.source = "test";
  r.metadata.confidence = 0.5;
  r.metadata.tags = std::move(tags);
  return r;
}

Query text_query(std::string text, size_t limit = 10) {
  Query q;
  q.text = std::move(text);
  q.limit = limit;
  return q;
}

std::vector<std::string> ids_of(const std::vector<MemoryEntry>& entries) {
  std::vector<std::string> ids;
  for (const auto& e : entries) ids.push_back(e.id);
  return ids;
}

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

std::shared_ptr<const Embedder> fixture_embedder(const std::string& name) {
  return load_model_embedder(fixture_dir(name).string());
}

#define REQUIRE_MODEL(name) MEMEMBED_REQUIRE_SHARED(fixture_dir(name))

}  // namespace

TEST_P(BackendConformance, StoresAndReadsBackEveryField) {
  StoreRequest r = request("Met Alice at the harbour cafe", Category::Social, {"alice", "travel"}, "trips");
  r.expires_at = now_micros() + 3600LL * 1000000;
  const std::string id = store().store("agent-a", r);
  const MemoryEntry e = store().get("agent-a", id);
  EXPECT_EQ(e.id, id);
  EXPECT_EQ(e.agent_id, "agent-a");
  EXPECT_EQ(e.namespace_, "trips");
  EXPECT_EQ(e.category, Category::Social);
  EXPECT_EQ(e.content, r.content);
  EXPECT_EQ(e.metadata.source, "test");
  EXPECT_DOUBLE_EQ(e.metadata.confidence, 0.5);
  EXPECT_EQ(e.metadata.tags, (std::vector<std::string>{"alice", "travel"}));
  EXPECT_EQ(e.expires_at, r.expires_at);
  EXPECT_EQ(e.created_at, e.updated_at);
  EXPECT_FALSE(e.shared);
  // and after reopening
  close();
  EXPECT_EQ(store().get("agent-a", id).content, r.content);
}

TEST_P(BackendConformance, WorkingMemoryIsRefusedWithTheReason) {
  const std::string message = error_of([&] { store().store("a", request("scratch", Category::Working)); });
  EXPECT_NE(message.find("WORKING"), std::string::npos) << message;
  EXPECT_NE(message.find("context"), std::string::npos) << message;
  EXPECT_EQ(store().count("a"), 0u);
}

TEST_P(BackendConformance, BadInputIsAClearErrorAndStoresNothing) {
  auto expect_error = [&](const StoreRequest& r, const std::string& needle, const std::string& agent = "a") {
    const std::string message = error_of([&] { store().store(agent, r); });
    EXPECT_NE(message.find(needle), std::string::npos) << "expected '" << needle << "' in: " << message;
  };
  expect_error(request(""), "content must not be empty");
  expect_error(request(" \n\t "), "content must not be empty");
  expect_error(request(std::string(64 * 1024 + 1, 'x')), "limit is 65536");
  expect_error(request("bad \xff utf8"), "UTF-8");
  expect_error(request("x"), "agent_id must not be empty", "");
  StoreRequest r = request("x");
  r.metadata.confidence = 1.5;
  expect_error(r, "confidence");
  r.metadata.confidence = -0.1;
  expect_error(r, "confidence");
  r.metadata.confidence = std::nan("");
  expect_error(r, "confidence");
  r = request("x");
  r.expires_at = now_micros() - 1000000;
  expect_error(r, "not in the future");
  r = request("x");
  r.namespace_ = "";
  expect_error(r, "namespace must not be empty");
  r = request("x");
  for (int i = 0; i < 65; ++i) r.metadata.tags.push_back("t" + std::to_string(i));
  expect_error(r, "tags");
  EXPECT_EQ(store().count("a"), 0u);

  EXPECT_NE(error_of([] { parse_category("FLEETING"); }).find("unknown category 'FLEETING'"), std::string::npos);
  EXPECT_NE(error_of([] { parse_timestamp("2026-13-01T00:00:00Z", "since"); }).find("since"), std::string::npos);
  EXPECT_NE(error_of([] { parse_timestamp("yesterday", "until"); }).find("RFC 3339"), std::string::npos);
  Query q = text_query("x", 0);
  EXPECT_NE(error_of([&] { store().retrieve("a", q); }).find("limit 0"), std::string::npos);
  q.limit = 1001;
  EXPECT_NE(error_of([&] { store().retrieve("a", q); }).find("limit 1001"), std::string::npos);
  q.limit = 5;
  q.min_relevance = 2;
  EXPECT_NE(error_of([&] { store().retrieve("a", q); }).find("min_relevance"), std::string::npos);
  q.min_relevance = 0;
  q.since = 10;
  q.until = 5;
  EXPECT_NE(error_of([&] { store().retrieve("a", q); }).find("since"), std::string::npos);
  EXPECT_NE(error_of([&] { store().get("a", "no-such-id"); }).find("not found"), std::string::npos);
}

TEST_P(BackendConformance, AgentsSeeOnlyTheirOwnMemories) {
  const std::string a = store().store("alice", request("the launch code is tulip"));
  store().store("bob", request("bob likes tulip bulbs"));
  EXPECT_EQ(store().count("alice"), 1u);
  EXPECT_EQ(store().count("bob"), 1u);
  const auto bob_sees = store().retrieve("bob", text_query("tulip"));
  ASSERT_EQ(bob_sees.size(), 1u);
  EXPECT_EQ(bob_sees[0].agent_id, "bob");
  EXPECT_THROW(store().get("bob", a), Error);
  EXPECT_THROW(store().update("bob", a, UpdateRequest{std::string("hacked"), std::nullopt, std::nullopt, false}), Error);
  EXPECT_THROW(store().remove("bob", a), Error);
  EXPECT_THROW(store().publish("bob", a), Error);
  EXPECT_EQ(store().get("alice", a).content, "the launch code is tulip");
  Query metadata_only;
  EXPECT_EQ(store().retrieve("carol", metadata_only).size(), 0u);
}

TEST_P(BackendConformance, ExpiredMemoriesAreNeverReturned) {
  const std::string live = store().store("a", request("river stones and moss"));
  // An expired row, as if time had passed (the store refuses expiries in the past).
  MemoryEntry old = store().get("a", live);
  old.id = "expired-1";
  old.content = "river stones expired";
  old.expires_at = now_micros() - 1;
  store().backend().put({{old, {}, false}});
  EXPECT_EQ(store().count("a"), 1u);
  EXPECT_THROW(store().get("a", "expired-1"), Error);
  EXPECT_EQ(ids_of(store().retrieve("a", text_query("river stones"))), std::vector<std::string>{live});
  EXPECT_EQ(ids_of(store().retrieve("a", Query{})), std::vector<std::string>{live});
  store().backend().set_shared("expired-1", true);
  EXPECT_TRUE(store().search_shared(text_query("river")).empty());
  EXPECT_EQ(store().purge_expired(), 1u);
  EXPECT_FALSE(store().backend().get("expired-1").has_value());
}

TEST_P(BackendConformance, UpdateAndDelete) {
  const std::string id = store().store("a", request("the meeting is on monday"));
  UpdateRequest u;
  u.content = "the meeting moved to friday";
  Metadata m;
  m.source = "calendar";
  m.confidence = 0.9;
  m.tags = {"work", "work"};
  u.metadata = m;
  u.expires_at = now_micros() + 60LL * 1000000;
  const MemoryEntry updated = store().update("a", id, u);
  EXPECT_EQ(updated.content, "the meeting moved to friday");
  EXPECT_EQ(updated.metadata.tags, std::vector<std::string>{"work"});
  EXPECT_GE(updated.updated_at, updated.created_at);
  EXPECT_EQ(store().get("a", id).metadata.source, "calendar");
  EXPECT_TRUE(store().retrieve("a", text_query("monday")).empty());
  EXPECT_EQ(store().retrieve("a", text_query("friday")).size(), 1u);
  UpdateRequest clear;
  clear.clear_expiry = true;
  EXPECT_FALSE(store().update("a", id, clear).expires_at.has_value());
  UpdateRequest bad;
  bad.content = "";
  EXPECT_THROW(store().update("a", id, bad), Error);
  EXPECT_EQ(store().get("a", id).content, "the meeting moved to friday");
  store().remove("a", id);
  EXPECT_EQ(store().count("a"), 0u);
  EXPECT_THROW(store().remove("a", id), Error);
  EXPECT_TRUE(store().retrieve("a", text_query("friday")).empty());
}

TEST_P(BackendConformance, CountsByCategory) {
  store().store("a", request("one", Category::Episodic));
  store().store("a", request("two", Category::Semantic));
  store().store("a", request("three", Category::Semantic));
  EXPECT_EQ(store().count("a"), 3u);
  EXPECT_EQ(store().count("a", Category::Semantic), 2u);
  EXPECT_EQ(store().count("a", Category::Procedural), 0u);
  EXPECT_THROW(store().count("a", Category::Working), Error);
}

TEST_P(BackendConformance, SharedKnowledgeIsExplicit) {
  const std::string fact = store().store("alice", request("the office wifi password is heron", Category::Semantic));
  store().store("alice", request("alice private note about heron", Category::Semantic));
  EXPECT_TRUE(store().search_shared(text_query("heron")).empty());
  store().publish("alice", fact);
  auto found = store().search_shared(text_query("heron password"));
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].id, fact);
  EXPECT_TRUE(found[0].shared);
  EXPECT_TRUE(store().search_shared(text_query("heron"), std::string("alice")).empty());
  EXPECT_EQ(store().search_shared(text_query("heron"), std::string("bob")).size(), 1u);
  EXPECT_THROW(store().get("bob", fact), Error);  // shared is searchable, not owned
  store().retract("alice", fact);
  EXPECT_TRUE(store().search_shared(text_query("heron")).empty());
}

TEST_P(BackendConformance, FiltersNamespacesCategoriesTagsAndTime) {
  const std::string a = store().store("x", request("deploy the service with helm", Category::Procedural, {"ops", "k8s"}, "work"));
  const std::string b = store().store("x", request("deploy notes from the retro", Category::Episodic, {"ops"}, "work"));
  const std::string c = store().store("x", request("deploy a garden shed", Category::Procedural, {"k8s"}, "home"));
  Query q = text_query("deploy");
  q.namespaces = {"work"};
  EXPECT_EQ(store().retrieve("x", q).size(), 2u);
  q.categories = {Category::Procedural};
  EXPECT_EQ(ids_of(store().retrieve("x", q)), std::vector<std::string>{a});
  q = text_query("deploy");
  q.tags = {"ops", "k8s"};
  EXPECT_EQ(ids_of(store().retrieve("x", q)), std::vector<std::string>{a});
  q.tags = {"k8s"};
  EXPECT_EQ(store().retrieve("x", q).size(), 2u);
  q.tags = {"nope"};
  EXPECT_TRUE(store().retrieve("x", q).empty());
  const MemoryEntry eb = store().get("x", b);
  q = text_query("deploy");
  q.since = eb.created_at;
  for (const auto& e : store().retrieve("x", q)) EXPECT_GE(e.created_at, eb.created_at);
  q = text_query("deploy");
  q.until = eb.created_at;
  for (const auto& e : store().retrieve("x", q)) EXPECT_LT(e.created_at, eb.created_at);
  // metadata-only: newest first, filters still apply
  Query m;
  m.namespaces = {"work", "home"};
  EXPECT_EQ(ids_of(store().retrieve("x", m)), (std::vector<std::string>{c, b, a}));
  m.limit = 1;
  EXPECT_EQ(ids_of(store().retrieve("x", m)), std::vector<std::string>{c});
}

// The anchor this replaces cut a top-k and filtered afterwards; here the filter is part of the
// search, so the one memory that matches it is found among 100,000 that score higher.
TEST_P(BackendConformance, OneMatchAmongOneHundredThousandIsFound) {
  auto backend = open_backend();
  const size_t n = 100000, dims = 8;
  const int64_t set = backend->create_vector_set({"test-vectors", "fingerprint-8", dims}, VectorSetState::Active);
  const Timestamp now = now_micros();
  std::vector<MemoryWrite> writes;
  auto vector_for = [&](bool target) {
    std::vector<float> v(dims, 0.0f);
    v[0] = 1.0f;
    if (target) v[1] = 3.0f;  // far from the query direction
    retrieval::l2_normalize(v.data(), dims);
    return v;
  };
  for (size_t i = 0; i < n; ++i) {
    const bool target = i == n / 2;
    MemoryWrite w;
    w.entry.id = fmt::format("m{:06}", i);
    w.entry.agent_id = "agent";
    w.entry.namespace_ = target ? "needle" : "hay";
    w.entry.content = target ? "report mentioned once" : "report report report mentioned report";
    w.entry.metadata.tags = target ? std::vector<std::string>{"rare"} : std::vector<std::string>{"common"};
    w.entry.created_at = w.entry.updated_at = now - static_cast<Timestamp>(i);
    w.vectors.push_back({set, vector_for(target)});
    writes.push_back(std::move(w));
    if (writes.size() == 20000) {
      backend->put(writes);
      writes.clear();
    }
  }
  std::vector<float> query = vector_for(false);
  Filter filter;
  filter.agent_id = "agent";
  filter.now = now + 1;
  for (int variant = 0; variant < 2; ++variant) {
    Filter f = filter;
    if (variant == 0) f.namespaces = {"needle"};
    else f.tags = {"rare"};
    auto dense = backend->dense_search(f, set, query, 10);
    ASSERT_EQ(dense.size(), 1u);
    EXPECT_EQ(dense[0].id, fmt::format("m{:06}", n / 2));
    auto lexical = backend->lexical_search(f, "report", 10);
    ASSERT_EQ(lexical.size(), 1u);
    EXPECT_EQ(lexical[0].id, fmt::format("m{:06}", n / 2));
    EXPECT_EQ(backend->count(f), 1u);
    EXPECT_EQ(backend->recent(f, 10).size(), 1u);
  }
  // and the unfiltered top-10 is all hay
  for (const auto& c : backend->dense_search(filter, set, query, 10)) EXPECT_NE(c.id, fmt::format("m{:06}", n / 2));
}

// BM25 in the store scores exactly as retrieval::Bm25Index (and so as `eval --model bm25`).
TEST_P(BackendConformance, Bm25MatchesTheEvalImplementation) {
  const std::vector<std::string> docs = {"The cat sat on the mat", "Dogs and cats living together",
                                         "cat cat cat, said the cat", "Nothing to see here",
                                         "Café prices in Zürich: café crème"};
  std::vector<std::string> ids;
  for (const auto& d : docs) ids.push_back(store().store("a", request(d)));
  const retrieval::Bm25Index index(docs, {});
  for (const std::string query : {"cat", "cat mat", "café zürich", "cats dogs cat"}) {
    std::vector<double> expected;
    index.score(query, expected);
    Filter f;
    f.agent_id = "a";
    f.now = now_micros();
    const auto got = store().backend().lexical_search(f, query, 10);
    size_t matching = 0;
    for (double s : expected) matching += s > 0 ? 1 : 0;
    EXPECT_EQ(got.size(), matching) << query;
    for (const Candidate& c : got) {
      const size_t d = static_cast<size_t>(std::find(ids.begin(), ids.end(), c.id) - ids.begin());
      ASSERT_LT(d, docs.size());
      EXPECT_NEAR(c.score, expected[d], 1e-9) << query << " / " << docs[d];
    }
  }
}

TEST_P(BackendConformance, RecencyAndMinRelevanceShapeTheRanking) {
  const std::string older = store().store("a", request("quarterly planning notes"));
  MemoryEntry e = store().get("a", older);
  e.created_at -= 3600LL * 1000000 * 24 * 30;  // a month old
  store().backend().put({{e, {}, true}});
  const std::string newer = store().store("a", request("quarterly planning notes"));
  const auto found = store().retrieve("a", text_query("quarterly planning"));
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].id, newer);  // same text: recency decides
  EXPECT_GT(found[0].relevance_score, found[1].relevance_score);
  Query q = text_query("quarterly planning");
  q.min_relevance = (found[0].relevance_score + found[1].relevance_score) / 2;
  EXPECT_EQ(ids_of(store().retrieve("a", q)), std::vector<std::string>{newer});
}

TEST_P(BackendConformance, ExportImportRoundTripIsExact) {
  REQUIRE_MODEL("bert-tiny");
  auto embedder = fixture_embedder("bert-tiny");
  StoreRequest r = request("tea with \"quotes\" and unicode ☕", Category::Social, {"x", "y"});
  r.expires_at = now_micros() + 86400LL * 1000000;
  const std::string id = store(embedder).store("a", r);
  store().store("b", request("second agent's memory", Category::Semantic));
  store().publish("a", id);
  std::stringstream first;
  store().export_jsonl(first, true);
  close();
  fs::remove_all(dir_);
  fs::create_directories(dir_);
  std::stringstream in(first.str());
  EXPECT_EQ(store(embedder).import_jsonl(in, "export.jsonl"), 2u);
  std::stringstream second;
  store().export_jsonl(second, true);
  EXPECT_EQ(first.str(), second.str());
  std::stringstream bad("{\"id\": \"x\", \"agent_id\": \"a\", \"category\": \"WORKING\", \"content\": \"c\", "
                        "\"created_at\": \"2026-01-01T00:00:00Z\"}\n");
  EXPECT_NE(error_of([&] { store().import_jsonl(bad, "bad.jsonl"); }).find("bad.jsonl:1"), std::string::npos);
}

TEST_P(BackendConformance, DenseRetrievalFindsWithTheModelAndRefusesAnotherModel) {
  REQUIRE_MODEL("bert-tiny");
  REQUIRE_MODEL("bert-tiny-cls");
  auto tiny = fixture_embedder("bert-tiny");
  const std::string id = store(tiny).store("a", request("zebra crossing at the corner"));
  // Dense-only ranking finds it with a query sharing no token.
  close();
  {
    StoreOptions options;
    options.embedder = tiny;
    options.ranking.fusion_weight = 1.0;
    MemoryStore dense_only(open_backend(), options);
    Query q = text_query("pedestrian");
    const auto found = dense_only.retrieve("a", q);
    ASSERT_EQ(found.size(), 1u);
    EXPECT_EQ(found[0].id, id);
  }
  auto other = fixture_embedder("bert-tiny-cls");
  StoreOptions options;
  options.embedder = other;
  const std::string message = error_of([&] { MemoryStore s(open_backend(), options); });
  EXPECT_NE(message.find(tiny->identity().fingerprint.substr(0, 12)), std::string::npos) << message;
  EXPECT_NE(message.find(other->identity().fingerprint.substr(0, 12)), std::string::npos) << message;
  EXPECT_NE(message.find("memembed memory reindex"), std::string::npos) << message;
}

TEST_P(BackendConformance, ReindexSwitchesModelsAndKeepsTheOldSetUntilPruned) {
  REQUIRE_MODEL("bert-tiny");
  REQUIRE_MODEL("bert-tiny-cls");
  auto tiny = fixture_embedder("bert-tiny");
  auto cls = fixture_embedder("bert-tiny-cls");
  for (int i = 0; i < 20; ++i) store(tiny).store("a", request("memory number " + std::to_string(i)));
  ReindexOptions options;
  options.batch = 7;
  size_t last_done = 0;
  options.on_progress = [&](size_t done, size_t total) {
    EXPECT_EQ(total, 20u);
    last_done = done;
  };
  const ReindexResult result = store().reindex(cls, options);
  EXPECT_TRUE(result.switched);
  EXPECT_EQ(result.embedded, 20u);
  EXPECT_EQ(last_done, 20u);
  // Writes now go to the new set; the old one is retired and kept.
  store().store("a", request("written after the switch"));
  const auto sets = store().backend().vector_sets();
  ASSERT_EQ(sets.size(), 2u);
  EXPECT_EQ(sets[0].state, VectorSetState::Retired);
  EXPECT_EQ(sets[1].state, VectorSetState::Active);
  EXPECT_EQ(sets[1].vectors, 21u);
  close();
  EXPECT_THROW(store(tiny), Error);  // the active set is cls now
  close();
  // Switching back embeds only what changed since.
  store(cls);
  const ReindexResult back = store().reindex(tiny, ReindexOptions{});
  EXPECT_TRUE(back.switched);
  EXPECT_EQ(back.embedded, 1u);
  options.prune = true;
  options.on_progress = nullptr;
  EXPECT_EQ(store().reindex(tiny, options).pruned_sets, 1u);
  EXPECT_EQ(store().backend().vector_sets().size(), 1u);
  EXPECT_EQ(store().count("a"), 21u);
}

TEST_P(BackendConformance, ManyThreadsReadAndWriteAtOnce) {
  MemoryStore& s = store();
  std::atomic<size_t> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      try {
        for (int i = 0; i < 40; ++i) {
          const std::string id = s.store("agent" + std::to_string(t % 2), request(fmt::format("thread {} note {} about lanterns", t, i)));
          if (s.get("agent" + std::to_string(t % 2), id).id != id) ++failures;
          s.retrieve("agent" + std::to_string(t % 2), text_query("lanterns"));
        }
      } catch (const std::exception&) {
        ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0u);
  EXPECT_EQ(s.count("agent0") + s.count("agent1"), 240u);
}

TEST_P(BackendConformance, VectorSetsTrackMissingVectorsAndSkipStaleOnes) {
  auto backend = open_backend();
  const int64_t set = backend->create_vector_set({"m", "fp", 2}, VectorSetState::Building);
  MemoryEntry e;
  e.id = "one";
  e.agent_id = "a";
  e.namespace_ = "default";
  e.content = "first text";
  e.created_at = e.updated_at = now_micros();
  backend->put({{e, {}, false}});
  EXPECT_EQ(backend->missing_vector_count(set), 1u);
  auto pending = backend->missing_vectors(set, "", 10);
  ASSERT_EQ(pending.size(), 1u);
  // The memory changes before the vector arrives: the stale vector is dropped.
  e.content = "second text";
  backend->put({{e, {}, false}});
  backend->put_vectors(set, {{pending[0], {1.0f, 0.0f}}});
  EXPECT_EQ(backend->missing_vector_count(set), 1u);
  backend->put_vectors(set, {{{"one", "second text"}, {0.0f, 1.0f}}});
  EXPECT_EQ(backend->missing_vector_count(set), 0u);
  backend->activate_vector_set(set);
  EXPECT_EQ(backend->vector_sets().at(0).state, VectorSetState::Active);
  backend->set_setting("k", "v");
  EXPECT_EQ(backend->setting("k"), "v");
  backend->drop_vector_set(set);
  EXPECT_TRUE(backend->vector_sets().empty());
}

}  // namespace memembed::testing
