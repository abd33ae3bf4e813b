// End to end: run_evaluation with BM25 on hand-built and shared LMEB trees, the output contract
// (summary.csv, result JSON, run files), resuming, and the CLI.
#include "bm25.h"
#include "cli_support.h"
#include "correlation.h"
#include "embedding_cache.h"
#include "eval_test_support.h"
#include "memembed/error.h"
#include "memembed/eval.h"
#include "memembed/json_io.h"
#include "qrels.h"
#include "run_file.h"
#include "scoring.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <sstream>

namespace fs = std::filesystem;
using namespace memembed;
using namespace memembed::eval;
using memembed::eval_test::read_file;
using memembed::eval_test::shared_dir;
using memembed::eval_test::TempDir;
using memembed::eval_test::write_file;

namespace {

// Two conversations (scenes), three queries; the query words pick out one turn each.
fs::path make_toy_tree(const fs::path& root) {
  const fs::path dataset = root / "Dialogue" / "LoCoMo";
  write_file(dataset / "corpus.jsonl",
             "{\"id\": \"conv_1_D1:1\", \"title\": \"\", \"text\": \"Alice adopted a grey cat named Pixel\"}\n"
             "{\"id\": \"conv_1_D1:2\", \"title\": \"\", \"text\": \"Bob went hiking in the alps\"}\n"
             "{\"id\": \"conv_1_D1:3\", \"title\": \"\", \"text\": \"They talked about the weather\"}\n"
             "{\"id\": \"conv_2_D1:1\", \"title\": \"\", \"text\": \"Carol bought a grey cat too\"}\n"
             "{\"id\": \"conv_2_D1:2\", \"title\": \"\", \"text\": \"Dan plays the violin\"}\n");
  write_file(dataset / "candidates.jsonl",
             "{\"scene_id\": \"conv_1\", \"candidate_doc_ids\": [\"conv_1_D1:1\", \"conv_1_D1:2\", \"conv_1_D1:3\"]}\n"
             "{\"scene_id\": \"conv_2\", \"candidate_doc_ids\": [\"conv_2_D1:1\", \"conv_2_D1:2\"]}\n");
  write_file(dataset / "single_hop" / "queries.jsonl",
             "{\"id\": \"conv_1_q1\", \"text\": \"What is the name of the grey cat?\"}\n"
             "{\"id\": \"conv_2_q1\", \"text\": \"Who plays the violin?\"}\n");
  write_file(dataset / "single_hop" / "qrels.tsv", "conv_1_q1\tconv_1_D1:1\t1\nconv_2_q1\tconv_2_D1:2\t1\n");
  write_file(dataset / "multi_hop" / "queries.jsonl",
             "{\"id\": \"conv_1_q2\", \"text\": \"Where did Bob go hiking?\"}\n");
  write_file(dataset / "multi_hop" / "qrels.tsv", "conv_1_q2\tconv_1_D1:2\t1\nconv_1_q2\tconv_1_D1:3\t1\n");
  write_file(root / "task_instructions.json",
             "{\"LoCoMo\": {\"single_hop\": \"Given a query, retrieve documents\", \"multi_hop\": "
             "\"Given a multi-hop question, retrieve documents\"}}");
  return root;
}

EvalOptions toy_options(const fs::path& root, const fs::path& out) {
  EvalOptions options;
  options.tasks = root;
  options.model = "bm25";
  options.out = out;
  options.use_cache = false;
  return options;
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

// The binary's exit code; its stdout and stderr together in `output`.
int run_binary(const std::string& args, std::string* output = nullptr) {
  const auto result = memembed::testing::run_memembed(args);
  if (output) *output = result.out + result.err;
  return result.exit_code;
}

}  // namespace

TEST(Harness, OutputContractOnToyTree) {
  TempDir tmp;
  const fs::path root = make_toy_tree(tmp / "bench");
  EvalOptions options = toy_options(root, tmp / "out");
  options.save_run = tmp / "runs";
  options.instructions = InstructionMode::Both;
  const EvalResult result = run_evaluation(options);
  ASSERT_EQ(result.subsets.size(), 4u);
  EXPECT_FALSE(result.interrupted);

  const std::string csv = read_file(tmp / "out" / "summary.csv");
  EXPECT_EQ(csv.rfind("memory_type,dataset,subset,instructions,main_score,ndcg_at_1,ndcg_at_3,", 0), 0u)
      << first_line(csv);
  for (const char* column : {",ndcg_at_10,", ",map_at_10,", ",recall_at_10,", ",precision_at_10,",
                             ",mrr_at_10,", ",r_cap_at_10,", ",r_cap_at_1000"}) {
    EXPECT_NE(first_line(csv).find(column), std::string::npos) << column;
  }
  EXPECT_NE(csv.find("\nDialogue,LoCoMo,multi_hop,off,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\nDialogue,LoCoMo,single_hop,on,"), std::string::npos) << csv;

  const fs::path json_path = tmp / "out" / "results" / "off" / "Dialogue" / "LoCoMo" / "single_hop.json";
  const Json json = read_json_file(json_path);
  EXPECT_EQ(json["task_name"], "LoCoMo");
  EXPECT_EQ(json["memory_type"], "Dialogue");
  EXPECT_EQ(json["subset"], "single_hop");
  EXPECT_EQ(json["instructions"], "off");
  EXPECT_EQ(json["model_name"], "bm25");
  EXPECT_TRUE(json["model_revision"].is_string());
  EXPECT_TRUE(json["evaluation_time"].is_number());
  EXPECT_TRUE(json["memembed_version"].is_string());
  const Json& scores = json["scores"]["test"][0];
  EXPECT_EQ(scores["hf_subset"], "single_hop");
  EXPECT_EQ(scores["languages"], Json::array({"eng-Latn"}));
  EXPECT_EQ(scores["main_score"], scores["ndcg_at_10"]);
  // The scene filter keeps conv_1_q1 to three docs, and the cat turn ranks first: ndcg = 1.
  EXPECT_DOUBLE_EQ(scores["ndcg_at_10"].get<double>(), 1.0);
  EXPECT_TRUE(scores.contains("r_cap_at_10"));

  // The run file holds only scene candidates and re-scores to the reported value.
  const fs::path run_dir = tmp / "runs" / "off" / "Dialogue" / "LoCoMo" / "multi_hop";
  const TrecRun run = TrecRun::read(run_dir / "run.trec");
  ASSERT_EQ(run.num_queries(), 1u);
  EXPECT_EQ(run.size(0), 3u);
  const ScoreReport rescored =
      score_run(Qrels::read(run_dir / "qrels.trec"), run, MetricSet(), /*trec_eval_mean=*/false);
  const Json multi = read_json_file(tmp / "out" / "results" / "off" / "Dialogue" / "LoCoMo" / "multi_hop.json");
  EXPECT_NEAR(rescored.mean[MetricSet().index_at(Measure::Ndcg, 10)],
              multi["memembed"]["unrounded"]["ndcg_at_10"].get<double>(), 1e-12);

  const std::string md = read_file(tmp / "out" / "summary.md");
  EXPECT_NE(md.find("KaLM-Embedding-Gemma3 (published)"), std::string::npos);
  EXPECT_NE(md.find("Dialogue (SOCIAL)"), std::string::npos);
  const std::string html = read_file(tmp / "out" / "report.html");
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg")) << "no external assets";
  EXPECT_EQ(html.find("<script"), std::string::npos);
}

TEST(Harness, ResumesAndRefusesAnotherModelsResults) {
  TempDir tmp;
  const fs::path root = make_toy_tree(tmp / "bench");
  const EvalOptions options = toy_options(root, tmp / "out");
  run_evaluation(options);
  const fs::path json_path = tmp / "out" / "results" / "off" / "Dialogue" / "LoCoMo" / "single_hop.json";
  const std::string before = read_file(json_path);

  const EvalResult again = run_evaluation(options);
  ASSERT_EQ(again.subsets.size(), 2u);
  EXPECT_TRUE(again.subsets[0].reused);
  EXPECT_TRUE(again.subsets[1].reused);
  EXPECT_EQ(read_file(json_path), before) << "a reused result is not rewritten";

  EvalOptions overwrite = options;
  overwrite.overwrite = true;
  const EvalResult recomputed = run_evaluation(overwrite);
  EXPECT_FALSE(recomputed.subsets[0].reused);

  // A result of another model in --out is refused, not mixed in.
  Json foreign = read_json_file(json_path);
  foreign["model_name"] = "some-other-model";
  write_json_file(json_path, foreign);
  try {
    run_evaluation(options);
    FAIL() << "expected a refusal";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("some-other-model"), std::string::npos) << e.what();
  }
  // Other cutoffs are another setting too.
  EvalOptions other_k = options;
  other_k.cutoffs = {1, 5};
  EXPECT_THROW(run_evaluation(other_k), Error);
}

TEST(Harness, InstructionsChangeTheQueryAndMustExist) {
  TempDir tmp;
  const fs::path root = make_toy_tree(tmp / "bench");
  EvalOptions options = toy_options(root, {});
  options.instructions = InstructionMode::On;
  const EvalResult on = run_evaluation(options);
  ASSERT_EQ(on.subsets.size(), 2u);
  EXPECT_EQ(on.subsets[0].instructions, "on");

  fs::remove(root / "task_instructions.json");
  try {
    run_evaluation(options);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("task_instructions.json"), std::string::npos) << e.what();
  }
  write_file(root / "task_instructions.json", "{\"LoCoMo\": {\"single_hop\": \"x\"}}");
  EXPECT_THROW(run_evaluation(options), Error) << "multi_hop has no instruction";
}

TEST(Harness, StopsCleanlyWhenAsked) {
  TempDir tmp;
  const fs::path root = make_toy_tree(tmp / "bench");
  EvalOptions options = toy_options(root, tmp / "out");
  std::atomic<bool> stop{true};
  options.stop = &stop;
  const EvalResult result = run_evaluation(options);
  EXPECT_TRUE(result.interrupted);
  EXPECT_TRUE(result.subsets.empty());
  stop = false;
  EXPECT_EQ(run_evaluation(options).subsets.size(), 2u);
}

TEST(Harness, SharedDevSetRunFilesReproduceReportedScores) {
  const fs::path root = shared_dir() / "lmeb";
  EVAL_REQUIRE_SHARED(root);
  TempDir tmp;
  EvalOptions options = toy_options(root, tmp / "out");
  options.save_run = tmp / "runs";
  const EvalResult result = run_evaluation(options);
  ASSERT_EQ(result.subsets.size(), 26u);
  const MetricSet set;
  for (const SubsetResult& s : result.subsets) {
    const fs::path dir = tmp / "runs" / "off" / s.memory_type / s.dataset / s.subset;
    const ScoreReport rescored =
        score_run(Qrels::read(dir / "qrels.trec"), TrecRun::read(dir / "run.trec"), set, false);
    EXPECT_NEAR(rescored.mean[set.index_at(Measure::Ndcg, 10)], s.main_score, 1e-12)
        << s.dataset << "/" << s.subset;
    // The run's qrels are the task's qrels.
    const ScoreReport against_task = score_run(
        Qrels::read(shared_dir() / "lmeb" / s.memory_type / s.dataset / s.subset / "qrels.tsv"),
        TrecRun::read(dir / "run.trec"), set, false);
    EXPECT_NEAR(against_task.mean[set.index_at(Measure::Ndcg, 10)], s.main_score, 1e-12);
    EXPECT_GT(s.main_score, 0.0);
  }
}

TEST(Bm25, TokenizerAndScores) {
  EXPECT_EQ(bm25_tokenize("Don't STOP the Café-2023!"),
            (std::vector<std::string>{"don", "t", "stop", "café", "2023"}));
  EXPECT_EQ(bm25_tokenize("the a an"), std::vector<std::string>{});
  // Two documents, query "cat": idf = ln(1 + (2 - 1 + 0.5) / (1 + 0.5)) = ln 2.
  const Bm25Index index({"cat cat dog", "dog bird"}, {0.9, 0.4});
  std::vector<double> scores;
  index.score("cat", scores);
  const double avgdl = 2.5, norm = 0.9 * (1 - 0.4 + 0.4 * 3 / avgdl);
  EXPECT_NEAR(scores[0], std::log(2.0) * 2 * 1.9 / (2 + norm), 1e-12);
  EXPECT_EQ(scores[1], 0.0);
  index.score("cat cat", scores);
  EXPECT_NEAR(scores[0], 2 * std::log(2.0) * 2 * 1.9 / (2 + norm), 1e-12) << "repeated query tokens count";
}

TEST(Correlation, PearsonSpearmanWithTies) {
  EXPECT_NEAR(pearson({1, 2, 3}, {2, 4, 6}), 1.0, 1e-12);
  EXPECT_EQ(average_ranks({10, 20, 20, 30}), (std::vector<double>{1, 2.5, 2.5, 4}));
  EXPECT_NEAR(spearman({1, 2, 2, 3}, {1, 3, 2, 4}), 0.9486832980505138, 1e-12);
  EXPECT_NEAR(pearson({0.1, 0.4, 0.35, 0.8, 0.5}, {3, 1, 2, 5, 4}), 0.5914441660464559, 1e-12);
  EXPECT_THROW(pearson({1, 1, 1}, {1, 2, 3}), Error);
  EXPECT_THROW(pearson({1}, {1}), Error);
}

TEST(Correlation, FilesJoinedOnKey) {
  TempDir tmp;
  write_file(tmp / "a.csv", "# comment\nmodel,setting,score\nm1,x,1\nm2,x,2\nm3,x,3\nm4,x,4\nm1,y,9\n");
  write_file(tmp / "b.csv", "model,mteb\nm1,10\nm2,30\nm3,20\nm4,40\nm5,50\n");
  CorrelateOptions options;
  options.a = tmp / "a.csv";
  options.b = tmp / "b.csv";
  options.a_column = "score";
  options.b_column = "mteb";
  EXPECT_THROW(correlate_files(options), Error) << "m1 twice in A without a filter";
  options.a_where = {"setting=x"};
  options.json = true;
  const CommandOutput output = correlate_files(options);
  const Json json = Json::parse(output.text);
  EXPECT_EQ(json["n"], 4);
  EXPECT_NEAR(json["spearman"].get<double>(), 0.8, 1e-12);
  ASSERT_EQ(output.warnings.size(), 1u);
  EXPECT_NE(output.warnings[0].find("m5"), std::string::npos);
}

TEST(EmbeddingCacheFile, PersistsDropsTornTailAndRefusesMismatch) {
  TempDir tmp;
  const TextKey a = sha256("doc a"), b = sha256("doc b");
  {
    EmbeddingCache cache(tmp.path(), "model-x", 3);
    const float rows[6] = {1, 2, 3, 4, 5, 6};
    cache.append({a, b}, rows);
  }
  const fs::path file = tmp / "model-x.embeddings";
  {
    std::ofstream torn(file, std::ios::binary | std::ios::app);
    torn << "partial record";
  }
  EmbeddingCache reopened(tmp.path(), "model-x", 3);
  EXPECT_EQ(reopened.size(), 2u);
  EXPECT_EQ(reopened.dropped_bytes(), 14u);
  float out[3];
  ASSERT_TRUE(reopened.lookup(b, out));
  EXPECT_EQ(out[0], 4);
  EXPECT_EQ(out[2], 6);
  EXPECT_FALSE(reopened.lookup(sha256("doc c"), out));
  const float more[3] = {7, 8, 9};
  reopened.append({sha256("doc c")}, more);
  EXPECT_EQ(EmbeddingCache(tmp.path(), "model-x", 3).size(), 3u) << "appends land after the cut";
  EXPECT_THROW(EmbeddingCache(tmp.path(), "model-x", 4), Error);
  write_file(tmp / "bad.embeddings", "NOTMAGIC........................");
  EXPECT_THROW(EmbeddingCache(tmp.path(), "bad", 3), Error);
}

TEST(Cli, ScoreCorrelateAndErrors) {
#ifndef MEMEMBED_BINARY
  GTEST_SKIP() << "memembed binary not built";
#else
  const fs::path cases = shared_dir() / "metrics" / "cases" / "c01_basic_binary";
  EVAL_REQUIRE_SHARED(cases);
  std::string output;
  ASSERT_EQ(run_binary("eval score --qrels " + (cases / "qrels.trec").string() + " --run " +
                           (cases / "run.trec").string(),
                       &output),
            0)
      << output;
  EXPECT_NE(output.find("ndcg_cut_10           \tall\t"), std::string::npos) << output;
  EXPECT_NE(output.find("num_q                 \tall\t"), std::string::npos) << output;

  TempDir tmp;
  write_file(tmp / "bad.trec", "q1 Q0 d1 1\n");
  EXPECT_EQ(run_binary("eval score --qrels " + (cases / "qrels.trec").string() + " --run " +
                           (tmp / "bad.trec").string(),
                       &output),
            3);
  EXPECT_NE(output.find("bad.trec:1"), std::string::npos) << output;
  EXPECT_EQ(run_binary("eval --tasks " + (tmp / "missing").string(), &output), 4) << output;

  const fs::path published = fs::path(MEMEMBED_SOURCE_DIR) / "data" / "lmeb_published_scores.csv";
  ASSERT_EQ(run_binary("eval correlate " + published.string() +
                           " --a-column meanType_n10 --b-column meanDS_n10 --a-where setting=wo_inst "
                           "--b-where setting=wo_inst",
                       &output),
            0)
      << output;
  EXPECT_NE(output.find("n\t15\n"), std::string::npos) << output;

  const fs::path lmeb = shared_dir() / "lmeb" / "Procedural" / "ReMe";
  ASSERT_EQ(run_binary("eval --tasks " + lmeb.string() + " --model bm25 --out " + (tmp / "o").string(), &output), 0)
      << output;
  EXPECT_NE(output.find("ReMe"), std::string::npos) << output;
  EXPECT_NE(output.find("Mean (Type)"), std::string::npos) << output;
  EXPECT_TRUE(fs::exists(tmp / "o" / "results" / "off" / "Procedural" / "ReMe" / "bfcl_qwen3_8b__task_query.json"));
  ASSERT_EQ(run_binary("eval report " + (tmp / "o").string() + " --html " + (tmp / "r.html").string(), &output), 0)
      << output;
  EXPECT_TRUE(fs::exists(tmp / "r.html"));
#endif
}
