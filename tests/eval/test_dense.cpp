// The dense retriever with a real fixture model: end to end, the embedding cache never embeds a
// document twice (instruction passes, reruns), and cached vectors give the same scores.
#include "embedding_cache.h"
#include "eval_test_support.h"
#include "memembed/embed.h"
#include "memembed/error.h"
#include "memembed/eval.h"
#include "retriever.h"
#include "memembed/json_io.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>

namespace fs = std::filesystem;
using namespace memembed;
using namespace memembed::eval;
using memembed::eval_test::read_file;
using memembed::eval_test::shared_dir;
using memembed::eval_test::TempDir;
using memembed::eval_test::write_file;

namespace {

size_t cache_records(const fs::path& dir, size_t dimension) {
  size_t records = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".embeddings") continue;
    records += (fs::file_size(entry.path()) - 16) / (32 + 4 * dimension);
  }
  return records;
}

// A copy of bert-tiny without its Normalize stage (so vector lengths differ) declaring
// `similarity` in config_sentence_transformers.json ("" leaves the field out).
fs::path unnormalised_model(const TempDir& tmp, const std::string& similarity) {
  const fs::path dir = tmp / ("model-" + (similarity.empty() ? std::string("default") : similarity));
  fs::copy(shared_dir() / "fixtures" / "bert-tiny", dir, fs::copy_options::recursive);
  Json modules = read_json_file(dir / "modules.json");
  Json kept = Json::array();
  for (const Json& module : modules) {
    if (module["type"].get<std::string>().find("Normalize") == std::string::npos) kept.push_back(module);
  }
  write_json_file(dir / "modules.json", kept);
  Json config = read_json_file(dir / "config_sentence_transformers.json");
  if (similarity.empty()) {
    config.erase("similarity_fn_name");
  } else {
    config["similarity_fn_name"] = similarity;
  }
  write_json_file(dir / "config_sentence_transformers.json", config);
  return dir;
}

double dot(const float* a, const float* b, size_t dim) {
  double sum = 0;
  for (size_t i = 0; i < dim; ++i) sum += static_cast<double>(a[i]) * b[i];
  return sum;
}

// What sentence-transformers' similarity functions give for one query and one document.
double reference_similarity(const std::string& similarity, const float* q, const float* d, size_t dim) {
  if (similarity == "dot") return dot(q, d, dim);
  if (similarity == "euclidean" || similarity == "manhattan") {
    double sum = 0;
    for (size_t i = 0; i < dim; ++i) {
      const double diff = static_cast<double>(q[i]) - d[i];
      sum += similarity == "euclidean" ? diff * diff : std::abs(diff);
    }
    return similarity == "euclidean" ? -std::sqrt(sum) : -sum;
  }
  return dot(q, d, dim) / std::sqrt(dot(q, q, dim) * dot(d, d, dim));
}

}  // namespace

class DenseSimilarity : public ::testing::TestWithParam<std::string> {};

TEST_P(DenseSimilarity, RanksByTheModelsDeclaredSimilarity) {
  EVAL_REQUIRE_SHARED(shared_dir() / "fixtures" / "bert-tiny");
  TempDir tmp;
  const std::string declared = GetParam();
  RetrieverConfig config;
  config.model = unnormalised_model(tmp, declared).string();
  config.threads = 1;
  const auto retriever = make_retriever(config);
  Corpus corpus;
  corpus.texts = {"Lock the doors before starting the engine", "Send a message with the receiver id",
                  "call get_stock_info with the ticker", "a"};
  retriever->index(corpus);
  const std::vector<std::string> queries = {"start the car safely", "check a stock price"};
  std::vector<float> scores;
  retriever->score(queries, scores);
  ASSERT_EQ(scores.size(), queries.size() * corpus.texts.size());

  const embed::Encoder encoder(config.model);
  const embed::Embeddings q = encoder.encode(queries);
  const embed::Embeddings d = encoder.encode(corpus.texts);
  const std::string expected = declared.empty() ? "cosine" : declared;
  bool differs_from_dot = false;
  for (size_t i = 0; i < queries.size(); ++i) {
    for (size_t j = 0; j < corpus.texts.size(); ++j) {
      const double want = reference_similarity(expected, q.row(i), d.row(j), q.dim);
      EXPECT_NEAR(scores[i * corpus.texts.size() + j], want, 1e-4 * std::max(1.0, std::abs(want)))
          << expected << " query " << i << " doc " << j;
      differs_from_dot |= std::abs(want - dot(q.row(i), d.row(j), q.dim)) > 1e-3;
    }
  }
  if (expected != "dot") {
    EXPECT_TRUE(differs_from_dot) << "the model's vectors must not be unit length";
  }
  EXPECT_NE(retriever->settings().find(expected), std::string::npos) << retriever->settings();
}

INSTANTIATE_TEST_SUITE_P(EverySimilarityFunction, DenseSimilarity,
                         ::testing::Values("", "cosine", "dot", "euclidean", "manhattan"));

TEST(DenseRetrieval, UnknownSimilarityIsInvalidInputNamingTheFile) {
  EVAL_REQUIRE_SHARED(shared_dir() / "fixtures" / "bert-tiny");
  TempDir tmp;
  RetrieverConfig config;
  config.model = unnormalised_model(tmp, "hamming").string();
  try {
    make_retriever(config);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find("config_sentence_transformers.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("hamming"), std::string::npos) << e.what();
  }
}

// A hub model is identified by what was loaded from the cache, so pulling a new commit of the
// same ORG/NAME changes its fingerprint (and so its embedding-cache key).
TEST(DenseRetrieval, HubModelFingerprintFollowsItsFilesNotItsName) {
  EVAL_REQUIRE_SHARED(shared_dir() / "fixtures" / "bert-tiny");
  TempDir tmp;
  const fs::path cache = tmp / "hub-cache";
  const fs::path revision_dir = cache / "test-org" / "tiny" / "main";
  fs::create_directories(revision_dir.parent_path());
  fs::copy(shared_dir() / "fixtures" / "bert-tiny", revision_dir, fs::copy_options::recursive);
  write_file(revision_dir / ".memembed-pull.json", R"({"repo":"test-org/tiny","commit":"1111"})");
  const memembed::testing::ScopedEnv cache_env("MEMEMBED_CACHE", cache.string());

  RetrieverConfig config;
  config.model = "test-org/tiny";
  config.threads = 1;
  config.cache_dir = tmp / "embeddings";
  const std::string first = make_retriever(config)->model_revision();

  // `memembed pull` brings a new commit: other weights under the same name and revision folder.
  std::string weights = read_file(revision_dir / "model.safetensors");
  weights[weights.size() - 1] ^= 0x40;
  write_file(revision_dir / "model.safetensors", weights);
  write_file(revision_dir / ".memembed-pull.json", R"({"repo":"test-org/tiny","commit":"2222"})");
  const std::string second = make_retriever(config)->model_revision();

  EXPECT_NE(first, second) << "the fingerprint must change with the files";
  size_t cache_files = 0;
  for (const auto& entry : fs::directory_iterator(tmp / "embeddings")) cache_files += entry.path().extension() == ".embeddings";
  EXPECT_EQ(cache_files, 2u) << "each commit gets its own embedding cache file";
}

// Another `eval` run's append in progress (it holds the cache's lock and has written half a
// record) must not be cut by a process opening the cache: the opener waits for the lock.
TEST(EmbeddingCacheFile, OpeningWaitsForAnotherProcesssAppendInProgress) {
  TempDir tmp;
  constexpr size_t kDimension = 8;
  auto row_for = [](const TextKey& key) {
    std::vector<float> row(kDimension);
    for (size_t i = 0; i < kDimension; ++i) row[i] = static_cast<float>(key[i]) + 0.5f;
    return row;
  };
  const TextKey first = sha256("first"), other = sha256("the other run"), child = sha256("child");
  fs::path file;
  {
    EmbeddingCache cache(tmp.path(), "shared-model", kDimension);
    cache.append({first}, row_for(first).data());
    file = cache.path();
  }
  // The other run: lock, then the first half of a record.
  const int fd = ::open(file.c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  std::string record(reinterpret_cast<const char*>(other.data()), other.size());
  const std::vector<float> other_row = row_for(other);
  record.append(reinterpret_cast<const char*>(other_row.data()), kDimension * sizeof(float));
  const size_t half = record.size() / 2;
  ASSERT_EQ(::write(fd, record.data(), half), static_cast<ssize_t>(half));

  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int status = 0;
    try {
      EmbeddingCache cache(tmp.path(), "shared-model", kDimension);
      cache.append({child}, row_for(child).data());
    } catch (...) {
      status = 1;
    }
    ::_exit(status);
  }
  // Give the child time to reach the open (it must wait there, whatever the timing).
  ::usleep(300 * 1000);
  ASSERT_EQ(::write(fd, record.data() + half, record.size() - half), static_cast<ssize_t>(record.size() - half));
  ::flock(fd, LOCK_UN);
  ::close(fd);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  const EmbeddingCache cache(tmp.path(), "shared-model", kDimension);
  EXPECT_EQ(cache.dropped_bytes(), 0u);
  EXPECT_EQ(cache.size(), 3u);
  std::vector<float> row(kDimension);
  for (const TextKey& key : {first, other, child}) {
    ASSERT_TRUE(cache.lookup(key, row.data()));
    EXPECT_EQ(row, row_for(key));
  }
}

// Several processes (several `eval` runs) opening and appending to one cache file at once: every
// record any of them wrote is there afterwards, intact.
TEST(EmbeddingCacheFile, ConcurrentProcessesNeitherLoseNorCorruptRecords) {
  TempDir tmp;
  constexpr size_t kDimension = 300;
  constexpr int kProcesses = 4;
  constexpr int kRounds = 40;
  constexpr int kRowsPerRound = 8;
  auto value_of = [](const TextKey& key, size_t i) { return static_cast<float>(key[i % 32]) + 0.25f * i; };
  auto key_of = [](int process, int round, int row) {
    return sha256(std::to_string(process) + "/" + std::to_string(round) + "/" + std::to_string(row));
  };
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int status = 0;
      try {
        for (int round = 0; round < kRounds; ++round) {
          EmbeddingCache cache(tmp.path(), "shared-model", kDimension);
          std::vector<TextKey> keys;
          std::vector<float> rows;
          for (int row = 0; row < kRowsPerRound; ++row) {
            keys.push_back(key_of(p, round, row));
            for (size_t i = 0; i < kDimension; ++i) rows.push_back(value_of(keys.back(), i));
          }
          cache.append(keys, rows.data());
        }
      } catch (...) {
        status = 1;
      }
      ::_exit(status);
    }
    children.push_back(pid);
  }
  for (const pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  const EmbeddingCache cache(tmp.path(), "shared-model", kDimension);
  EXPECT_EQ(cache.dropped_bytes(), 0u);
  EXPECT_EQ(cache.size(), static_cast<size_t>(kProcesses * kRounds * kRowsPerRound));
  std::vector<float> row(kDimension);
  size_t wrong = 0;
  for (int p = 0; p < kProcesses; ++p) {
    for (int round = 0; round < kRounds; ++round) {
      for (int r = 0; r < kRowsPerRound; ++r) {
        const TextKey key = key_of(p, round, r);
        if (!cache.lookup(key, row.data())) {
          ++wrong;
          continue;
        }
        for (size_t i = 0; i < kDimension; ++i) wrong += row[i] != value_of(key, i) ? 1 : 0;
      }
    }
  }
  EXPECT_EQ(wrong, 0u);
}

TEST(DenseRetrieval, FixtureModelEndToEndWithCache) {
  const fs::path model = shared_dir() / "fixtures" / "bert-tiny";
  EVAL_REQUIRE_SHARED(model);
  TempDir tmp;
  const fs::path dataset = tmp / "bench" / "Procedural" / "Toy";
  write_file(dataset / "corpus.jsonl",
             "{\"id\": \"d1\", \"title\": \"When to use: stock lookups\", \"text\": \"Experience: call get_stock_info\"}\n"
             "{\"id\": \"d2\", \"title\": \"\", \"text\": \"Lock the doors before starting the engine\"}\n"
             "{\"id\": \"d3\", \"title\": \"\", \"text\": \"Send a message with the receiver id\"}\n");
  write_file(dataset / "a" / "queries.jsonl",
             "{\"id\": \"q1\", \"text\": \"how do I check a stock price\"}\n"
             "{\"id\": \"q2\", \"text\": \"start the car safely\"}\n");
  write_file(dataset / "a" / "qrels.tsv", "q1\td1\t1\nq2\td2\t1\n");
  write_file(dataset / "b" / "queries.jsonl", "{\"id\": \"q3\", \"text\": \"message someone\"}\n");
  write_file(dataset / "b" / "qrels.tsv", "q3\td3\t1\n");
  write_file(tmp / "bench" / "task_instructions.json",
             "{\"Toy\": {\"a\": \"Given a query, retrieve experience\", \"b\": \"Given a query, retrieve steps\"}}");

  EvalOptions options;
  options.tasks = tmp / "bench";
  options.model = model.string();
  options.instructions = InstructionMode::Both;
  options.cache_dir = tmp / "cache";
  options.out = tmp / "out";
  options.threads = 1;
  const EvalResult first = run_evaluation(options);
  ASSERT_EQ(first.subsets.size(), 4u);
  EXPECT_EQ(first.model_name, "bert-tiny");
  for (const auto& s : first.subsets) {
    EXPECT_GE(s.main_score, 0.0);
    EXPECT_LE(s.main_score, 1.0);
  }
  const Json stored = read_json_file(tmp / "out" / "results" / "on" / "Procedural" / "Toy" / "a.json");
  const size_t dimension = 32;  // bert-tiny: hidden 32, mean pooling, no Dense
  // 3 documents once, 3 queries without and 3 with instructions: nothing embedded twice.
  EXPECT_EQ(cache_records(tmp / "cache", dimension), 9u);

  options.overwrite = true;
  const EvalResult second = run_evaluation(options);
  EXPECT_EQ(cache_records(tmp / "cache", dimension), 9u) << "a rerun embeds nothing new";
  ASSERT_EQ(second.subsets.size(), first.subsets.size());
  for (size_t i = 0; i < first.subsets.size(); ++i) {
    EXPECT_EQ(second.subsets[i].main_score, first.subsets[i].main_score);
  }

  EvalOptions uncached = options;
  uncached.use_cache = false;
  uncached.out = tmp / "out2";
  const EvalResult third = run_evaluation(uncached);
  for (size_t i = 0; i < first.subsets.size(); ++i) {
    EXPECT_NEAR(third.subsets[i].main_score, first.subsets[i].main_score, 1e-9);
  }
}
