// The dense retriever with a real fixture model: end to end, the embedding cache never embeds a
// document twice (instruction passes, reruns), and cached vectors give the same scores.
#include "embedding_cache.h"
#include "eval_test_support.h"
#include "memembed/eval.h"
#include "memembed/json_io.h"

#include <gtest/gtest.h>

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

}  // namespace

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
