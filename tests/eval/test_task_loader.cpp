// Task discovery and loading: LMEB's per-dataset layout rules on the shared dev tree and on
// hand-built trees shaped like the LMEB datasets that are not in the dev set, BEIR folders, and
// malformed files.
#include "eval_test_support.h"
#include "memembed/error.h"
#include "task_loader.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace fs = std::filesystem;
using namespace memembed;
using namespace memembed::eval;
using memembed::eval_test::shared_dir;
using memembed::eval_test::TempDir;
using memembed::eval_test::write_file;

namespace {

const SubsetSpec& find_spec(const std::vector<SubsetSpec>& specs, const std::string& dataset,
                            const std::string& subset) {
  auto it = std::find_if(specs.begin(), specs.end(), [&](const SubsetSpec& s) {
    return s.dataset == dataset && s.subset == subset;
  });
  if (it == specs.end()) throw std::runtime_error("no subset " + dataset + "/" + subset);
  return *it;
}

void write_task(const fs::path& dir, const std::string& qid, const std::string& doc) {
  write_file(dir / "queries.jsonl", "{\"id\": \"" + qid + "\", \"text\": \"where is the key\"}\n");
  write_file(dir / "qrels.tsv", qid + "\t" + doc + "\t1\n");
}

void write_corpus(const fs::path& dir, const std::vector<std::string>& ids) {
  std::string text;
  for (const auto& id : ids) text += "{\"id\": \"" + id + "\", \"title\": \"\", \"text\": \"doc " + id + "\"}\n";
  write_file(dir / "corpus.jsonl", text);
}

}  // namespace

TEST(TaskDiscovery, SharedDevTreeFollowsLmebLayout) {
  const fs::path root = shared_dir() / "lmeb";
  EVAL_REQUIRE_SHARED(root);
  const auto specs = discover_subsets(root, {});
  ASSERT_EQ(specs.size(), 26u);
  const auto& locomo = find_spec(specs, "LoCoMo", "single_hop");
  EXPECT_EQ(locomo.memory_type, "Dialogue");
  EXPECT_EQ(locomo.corpus.filename(), "corpus.jsonl");
  EXPECT_EQ(locomo.corpus.parent_path().filename(), "LoCoMo");
  EXPECT_EQ(locomo.candidates.parent_path().filename(), "LoCoMo");
  EXPECT_EQ(locomo.scene_rule, SceneRule::Prefix);
  EXPECT_EQ(locomo.instruction_subset_keys, std::vector<std::string>{"single_hop"});

  const auto& reme = find_spec(specs, "ReMe", "bfcl_qwen3_8b/task_query");
  EXPECT_EQ(reme.memory_type, "Procedural");
  EXPECT_EQ(reme.corpus.parent_path().filename(), "bfcl_qwen3_8b");
  EXPECT_TRUE(reme.candidates.empty());
  EXPECT_EQ(reme.instruction_subset_keys, std::vector<std::string>{"task_query"});

  EXPECT_EQ(std::count_if(specs.begin(), specs.end(), [](const SubsetSpec& s) { return s.dataset == "TMD"; }), 12);

  // Pointing at a dataset or a workspace inside it finds the same subsets with the same names.
  const auto workspace = discover_subsets(root / "Procedural" / "ReMe" / "bfcl_qwen3_8b", {});
  ASSERT_EQ(workspace.size(), 2u);
  EXPECT_EQ(workspace[0].dataset, "ReMe");
  EXPECT_EQ(workspace[0].subset, "bfcl_qwen3_8b/generalized_query");
  EXPECT_EQ(workspace[0].corpus, reme.corpus);
}

TEST(TaskDiscovery, LoadsSharedSubsetWithScenes) {
  const fs::path root = shared_dir() / "lmeb" / "Dialogue" / "LoCoMo";
  EVAL_REQUIRE_SHARED(root);
  const auto specs = discover_subsets(root, {});
  TaskLoader loader;
  const LoadedSubset open = loader.load(find_spec(specs, "LoCoMo", "open_domain"));
  EXPECT_EQ(open.queries.ids.size(), 89u);
  EXPECT_EQ(open.corpus->ids.size(), 5882u);
  ASSERT_NE(open.candidates[0], nullptr);
  // conv_26_q2's scene is conv_26: every candidate doc id starts with it.
  EXPECT_EQ(open.queries.ids[0], "conv_26_q2");
  for (uint32_t d : *open.candidates[0]) EXPECT_EQ(open.corpus->ids[d].rfind("conv_26_", 0), 0u);
  const LoadedSubset multi = loader.load(find_spec(specs, "LoCoMo", "multi_hop"));
  EXPECT_EQ(multi.corpus.get(), open.corpus.get()) << "the dataset-level corpus is read once";
}

TEST(TaskDiscovery, HeldOutShapedDatasetsUseTheirLmebRules) {
  TempDir tmp;
  const fs::path root = tmp / "bench";
  // EPBench: corpus in the parent of the subset folder, instruction key = last component.
  write_task(root / "Episodic" / "EPBench" / "default_claude_long" / "Times", "e_1_q1", "ev1");
  write_corpus(root / "Episodic" / "EPBench" / "default_claude_long", {"ev1", "ev2"});
  // CovidQA: the dataset folder is the subset folder, candidates at dataset level, exact scenes.
  write_task(root / "Semantic" / "Covid-QA", "cq1", "p1");
  write_corpus(root / "Semantic" / "Covid-QA", {"p1", "p2"});
  write_file(root / "Semantic" / "Covid-QA" / "candidates.jsonl",
             "{\"scene_id\": \"cq1\", \"candidate_doc_ids\": [\"p1\", \"p2\", \"nope\"]}\n");
  // SciFact folder is LMEB_SciFact.
  write_task(root / "Semantic" / "SciFact", "s1", "c1");
  write_corpus(root / "Semantic" / "SciFact", {"c1"});
  // MemBench: corpus and candidates per subset, prefix scenes.
  write_task(root / "Dialogue" / "MemBench" / "emotion", "mb_7_q1", "mb_7_t1");
  write_corpus(root / "Dialogue" / "MemBench" / "emotion", {"mb_7_t1", "mb_8_t1"});
  write_file(root / "Dialogue" / "MemBench" / "emotion" / "candidates.jsonl",
             "{\"scene_id\": \"mb_7\", \"candidate_doc_ids\": [\"mb_7_t1\"]}\n");
  // MemGovern: fixed instruction key.
  write_task(root / "Procedural" / "MemGovern" / "numpy_numpy", "g1", "x1");
  write_corpus(root / "Procedural" / "MemGovern" / "numpy_numpy", {"x1"});
  // A dataset LMEB does not have: nearest corpus upwards, candidates when present.
  write_task(root / "Semantic" / "NewBench" / "part_a", "nb_1_q1", "nb_1_d1");
  write_corpus(root / "Semantic" / "NewBench", {"nb_1_d1", "nb_2_d1"});

  const auto specs = discover_subsets(root, {});
  ASSERT_EQ(specs.size(), 6u);
  const auto& ep = find_spec(specs, "EPBench", "default_claude_long/Times");
  EXPECT_EQ(ep.memory_type, "Episodic");
  EXPECT_EQ(ep.corpus, root / "Episodic" / "EPBench" / "default_claude_long" / "corpus.jsonl");
  EXPECT_EQ(ep.instruction_subset_keys, std::vector<std::string>{"Times"});

  const auto& covid = find_spec(specs, "CovidQA", "Covid-QA");
  EXPECT_EQ(covid.scene_rule, SceneRule::Exact);
  EXPECT_EQ(covid.candidates, root / "Semantic" / "Covid-QA" / "candidates.jsonl");
  find_spec(specs, "LMEB_SciFact", "LMEB_SciFact");
  const auto& membench = find_spec(specs, "MemBench", "emotion");
  EXPECT_EQ(membench.candidates, root / "Dialogue" / "MemBench" / "emotion" / "candidates.jsonl");
  EXPECT_EQ(find_spec(specs, "MemGovern", "numpy_numpy").instruction_subset_keys,
            std::vector<std::string>{"MemGovern"});
  const auto& fresh = find_spec(specs, "NewBench", "part_a");
  EXPECT_EQ(fresh.corpus, root / "Semantic" / "NewBench" / "corpus.jsonl");
  EXPECT_EQ(fresh.scene_rule, SceneRule::Auto);

  TaskLoader loader;
  const LoadedSubset covid_data = loader.load(covid);
  ASSERT_NE(covid_data.candidates[0], nullptr);
  EXPECT_EQ(covid_data.candidates[0]->size(), 2u);
  EXPECT_NE(covid_data.warnings.size(), 0u) << "the unknown candidate doc id is reported";
  const LoadedSubset mb = loader.load(membench);
  ASSERT_NE(mb.candidates[0], nullptr);
  EXPECT_EQ(mb.candidates[0]->size(), 1u);
}

TEST(TaskDiscovery, BeirFolder) {
  TempDir tmp;
  const fs::path dir = tmp / "scifact";
  write_file(dir / "corpus.jsonl", "{\"_id\": \"1\", \"title\": \"T\", \"text\": \"body\"}\n{\"_id\": 2, \"text\": null}\n");
  write_file(dir / "queries.jsonl", "{\"_id\": \"q1\", \"text\": \"question\"}\n");
  write_file(dir / "qrels" / "test.tsv", "query-id\tcorpus-id\tscore\nq1\t1\t1\n");
  auto specs = discover_subsets(dir, {});
  ASSERT_EQ(specs.size(), 1u);
  EXPECT_EQ(specs[0].dataset, "scifact");
  EXPECT_EQ(specs[0].subset, "default");
  EXPECT_EQ(specs[0].memory_type, "Other");
  specs = discover_subsets(dir, {"test", "Semantic"});
  EXPECT_EQ(specs[0].memory_type, "Semantic");
  TaskLoader loader;
  const LoadedSubset data = loader.load(specs[0]);
  EXPECT_EQ(data.corpus->texts[0], "T body");
  EXPECT_EQ(data.corpus->ids[1], "2");
  EXPECT_EQ(data.corpus->texts[1], "");
  EXPECT_THROW(discover_subsets(dir, {"dev", ""}), Error) << "qrels/dev.tsv does not exist";
}

TEST(TaskDiscovery, DocumentTextIsStrippedTitlePlusText) {
  TempDir tmp;
  write_file(tmp / "corpus.jsonl",
             "{\"id\": \"a\", \"title\": \"\", \"text\": \"  hello \\u00a0\"}\n"
             "{\"id\": \"b\", \"title\": \"When\", \"text\": \"then\"}\n"
             "{\"id\": \"a\", \"title\": null, \"text\": \"again\"}\n");
  const auto corpus = load_corpus(tmp / "corpus.jsonl");
  ASSERT_EQ(corpus->ids.size(), 2u);
  EXPECT_EQ(corpus->texts[0], "again") << "a repeated id keeps its last text, first position";
  EXPECT_EQ(corpus->texts[1], "When then");
  EXPECT_EQ(corpus->duplicates, 1u);
}

TEST(TaskDiscovery, MalformedFilesNameFileLineAndField) {
  TempDir tmp;
  write_file(tmp / "queries.jsonl", "{\"id\": \"q1\", \"text\": \"ok\"}\n{\"id\": \"q2\"}\n");
  try {
    load_queries(tmp / "queries.jsonl");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("queries.jsonl:2: missing field \"text\""), std::string::npos) << e.what();
  }
  write_file(tmp / "q3.jsonl", "{\"id\": [1], \"text\": \"x\"}\n");
  EXPECT_THROW(load_queries(tmp / "q3.jsonl"), Error);
  write_file(tmp / "broken.jsonl", "{\"id\": \"q1\", \"text\": \"ok\"\n");
  try {
    load_queries(tmp / "broken.jsonl");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("broken.jsonl:1"), std::string::npos) << e.what();
  }
  write_corpus(tmp.path(), {"d1"});
  write_file(tmp / "cand.jsonl", "{\"scene_id\": \"s\", \"candidate_doc_ids\": \"d1\"}\n");
  const auto corpus = load_corpus(tmp / "corpus.jsonl");
  try {
    load_candidates(tmp / "cand.jsonl", *corpus);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cand.jsonl:1: field \"candidate_doc_ids\" must be an array"),
              std::string::npos)
        << e.what();
  }
}

TEST(TaskDiscovery, MissingFilesAreNamed) {
  TempDir tmp;
  write_task(tmp / "Dialogue" / "Unknown" / "s1", "u_1_q", "d");
  try {
    discover_subsets(tmp.path(), {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
    EXPECT_NE(std::string(e.what()).find("no corpus.jsonl"), std::string::npos) << e.what();
  }
  try {
    discover_subsets(tmp / "nothing-here", {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
  }
  write_file(tmp / "empty" / "readme.txt", "no tasks");
  EXPECT_THROW(discover_subsets(tmp / "empty", {}), Error);
}

TEST(TaskDiscovery, UnknownDocsAndQueriesAreCountedNotFatal) {
  TempDir tmp;
  const fs::path dir = tmp / "Semantic" / "Toy";
  write_file(dir / "queries.jsonl", "{\"id\": \"q1\", \"text\": \"a\"}\n{\"id\": \"q2\", \"text\": \"b\"}\n");
  write_file(dir / "qrels.tsv", "q1\td1\t1\nq1\tghost\t1\nq9\td1\t1\n");
  write_corpus(dir, {"d1"});
  const auto specs = discover_subsets(dir, {});
  TaskLoader loader;
  const LoadedSubset data = loader.load(specs[0]);
  ASSERT_EQ(data.queries.ids.size(), 1u) << "q2 has no qrels";
  EXPECT_EQ(data.judgments[0].num_rel, 2) << "the unknown doc still counts as relevant";
  EXPECT_EQ(data.judged_docs[0].size(), 1u);
  std::string all;
  for (const auto& w : data.warnings) all += w + "\n";
  EXPECT_NE(all.find("1 judgments name documents that are not in"), std::string::npos) << all;
  EXPECT_NE(all.find("1 queries have no qrels"), std::string::npos) << all;
  EXPECT_NE(all.find("1 qrels queries are not in"), std::string::npos) << all;
}

TEST(Scenes, PrefixExactAndAuto) {
  Candidates c;
  c.scenes["conv_26"] = {1};
  c.scenes["q7"] = {2};
  EXPECT_EQ(find_scene(c, "conv_26_q82", SceneRule::Prefix), &c.scenes["conv_26"]);
  EXPECT_EQ(find_scene(c, "conv_26_q82", SceneRule::Exact), nullptr);
  EXPECT_EQ(find_scene(c, "q7", SceneRule::Exact), &c.scenes["q7"]);
  EXPECT_EQ(find_scene(c, "q7", SceneRule::Prefix), &c.scenes["q7"]) << "no '_': the whole id";
  EXPECT_EQ(find_scene(c, "conv_26_q1", SceneRule::Auto), &c.scenes["conv_26"]);
  EXPECT_EQ(find_scene(c, "conv_27_q1", SceneRule::Auto), nullptr);
}

TEST(Instructions, LmebFormatAndLookup) {
  EXPECT_EQ(apply_instruction("Find it", "where?"), "Instruct: Find it\nQuery:where?");
  EXPECT_EQ(apply_instruction("  ", "where?"), "where?");
  TempDir tmp;
  write_file(tmp / "task_instructions.json", "{\"ReMe\": {\"task_query\": \"Use it\"}}");
  const auto table = InstructionTable::load(tmp / "task_instructions.json");
  EXPECT_EQ(table.lookup("ReMe", {"task_query"}), "Use it");
  try {
    table.lookup("ReMe", {"other"});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("task \"ReMe\" has no instruction for subset key \"other\""),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(table.lookup("LoCoMo", {"x"}), Error);
  write_file(tmp / "a" / "b" / "keep.txt", "");
  EXPECT_EQ(InstructionTable::find_near(tmp / "a" / "b"), tmp / "task_instructions.json");
}
