// Documents -> chunks with stable ids -> pairs; the held-out set is a BEIR folder eval can score.
#include "tune_test_support.h"

#include "memembed/error.h"
#include "memembed/eval.h"
#include "memembed/tune.h"

#include <set>

using namespace memembed;
using memembed::testing::TempDir;
using memembed::testing::write_documents;
using memembed::testing::write_file;
namespace fs = std::filesystem;

namespace {

std::string error_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Chunking, IdsAreStableAndFollowTheSource) {
  const TempDir dir_temp;
  const fs::path dir = dir_temp.path();
  write_file(dir / "policies" / "travel policy.md", "# Travel\n\nBook trains early.\n\nHotels need approval.\n");
  write_file(dir / "readme.txt", "One short note.");
  write_file(dir / "image.png", "not text");
  tune::ChunkOptions options;
  options.max_words = 3;
  const auto chunks = tune::load_chunks({dir}, options);
  std::vector<std::string> ids;
  for (const auto& chunk : chunks) ids.push_back(chunk.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"policies/travel_policy.md#0", "policies/travel_policy.md#1",
                                           "policies/travel_policy.md#2", "readme.txt#0"}));
  EXPECT_EQ(chunks[1].text, "Book trains early.");
  const auto again = tune::load_chunks({dir}, options);
  for (size_t i = 0; i < chunks.size(); ++i) EXPECT_EQ(again[i].id, chunks[i].id);
}

TEST(Chunking, CorpusRecordsKeepTheirIdsAndTurnsAreRecognised) {
  const TempDir dir_temp;
  const fs::path dir = dir_temp.path();
  write_file(dir / "corpus.jsonl",
             R"({"id": "d1", "title": "Greeting", "text": "[1:56 pm on 8 May, 2023] Caroline: Hey Mel!"})" "\n"
             R"({"id": "d2", "title": "", "text": "one two three four five six seven"})" "\n");
  tune::ChunkOptions options;
  options.max_words = 4;
  const auto chunks = tune::load_chunks({dir / "corpus.jsonl"}, options);
  ASSERT_EQ(chunks.size(), 5u);  // "Greeting" + the turn is 10 words: 3 pieces; d2 is 7: 2 pieces
  EXPECT_EQ(chunks[0].id, "d1#0");
  EXPECT_EQ(chunks[2].id, "d1#2");
  EXPECT_EQ(chunks[3].id, "d2#0");
  EXPECT_EQ(chunks[3].text, "one two three four");
  EXPECT_EQ(chunks[4].id, "d2#1");
  options.max_words = 100;
  const auto whole = tune::load_chunks({dir / "corpus.jsonl"}, options);
  EXPECT_EQ(whole[0].id, "d1");
  EXPECT_FALSE(whole[0].is_turn);  // the title comes first
  write_file(dir / "turns.jsonl", R"({"id": "t1", "text": "[1:56 pm on 8 May, 2023] Caroline: Hey Mel!"})" "\n");
  EXPECT_TRUE(tune::load_chunks({dir / "turns.jsonl"})[0].is_turn);
}

TEST(Chunking, BadInputNamesTheProblem) {
  const TempDir dir_temp;
  const fs::path dir = dir_temp.path();
  write_file(dir / "a.jsonl", R"({"id": "x", "text": "a"})" "\n" R"({"id": "x", "text": "b"})" "\n");
  EXPECT_NE(error_of([&] { tune::load_chunks({dir / "a.jsonl"}); }).find("chunk id \"x\" occurs twice"), std::string::npos);
  write_file(dir / "b.jsonl", R"({"id": "x", "text": "a"})" "\n" R"({"id": "y"})" "\n");
  EXPECT_NE(error_of([&] { tune::load_chunks({dir / "b.jsonl"}); }).find("b.jsonl:2"), std::string::npos);
  write_file(dir / "c.jsonl", R"({"id": "has space", "text": "a"})" "\n");
  EXPECT_NE(error_of([&] { tune::load_chunks({dir / "c.jsonl"}); }).find("without whitespace"), std::string::npos);
  EXPECT_NE(error_of([&] { tune::load_chunks({dir / "missing"}); }).find("no such file"), std::string::npos);
}

TEST(Generation, HeldOutSetIsABeirFolderThatEvalScores) {
  const TempDir docs_temp;
  const fs::path docs = docs_temp.path();
  write_documents(docs, 10, 6);
  const TempDir out_temp;
  const fs::path out = out_temp.path();
  tune::GenerateOptions options;
  options.docs = {docs};
  options.data_dir = out / "data";
  options.eval_dir = out / "eval";
  options.held_out_fraction = 0.2;
  const tune::GenerateReport report = tune::generate_training_data(options);
  EXPECT_EQ(report.generator, "inverse-cloze");
  EXPECT_EQ(report.documents, 10u);
  EXPECT_GT(report.held_out_queries, 3u);
  EXPECT_GT(report.train_pairs, report.held_out_queries);

  // No chunk has queries on both sides of the split.
  std::set<std::string> held_out_positives;
  const std::string qrels = read_file(out / "eval" / "qrels" / "test.tsv");
  std::istringstream lines(qrels);
  std::string line;
  std::getline(lines, line);  // header
  while (std::getline(lines, line)) held_out_positives.insert(line.substr(line.find('\t') + 1, line.rfind('\t') - line.find('\t') - 1));
  for_each_jsonl(out / "data" / "train.jsonl", [&](const Json& pair, size_t) {
    EXPECT_EQ(held_out_positives.count(pair["positive"].get<std::string>()), 0u) << pair.dump();
  });

  eval::EvalOptions eval_options;
  eval_options.tasks = out / "eval";
  eval_options.model = "bm25";
  eval_options.memory_type = "Semantic";
  const eval::EvalResult result = eval::run_evaluation(eval_options);
  ASSERT_EQ(result.subsets.size(), 1u);
  EXPECT_GT(result.subsets[0].main_score, 0.5);  // inverse-cloze queries share words with their chunk

  // The same seed gives the same data.
  const std::string first = read_file(out / "data" / "train.jsonl");
  tune::generate_training_data(options);
  EXPECT_EQ(read_file(out / "data" / "train.jsonl"), first);
}

TEST(Generation, DialogueTurnsRelateToTheirNeighbours) {
  const TempDir dir_temp;
  const fs::path dir = dir_temp.path();
  std::string corpus;
  for (int i = 0; i < 6; ++i) {
    corpus += fmt::format(R"({{"id": "c_{}", "title": "", "text": "[1:56 pm on 8 May, 2023] Caroline: we planned the school concert and the music festival number {}"}})", i, i) + "\n";
  }
  write_file(dir / "corpus.jsonl", corpus);
  tune::GenerateOptions options;
  options.docs = {dir / "corpus.jsonl"};
  options.data_dir = dir / "data";
  options.eval_dir = dir / "eval";
  options.held_out_fraction = 0;
  EXPECT_EQ(tune::generate_training_data(options).generator, "dialogue");
  for_each_jsonl(dir / "data" / "train.jsonl", [&](const Json& pair, size_t) {
    const int turn = std::stoi(pair["positive"].get<std::string>().substr(2));
    std::vector<std::string> expected;
    if (turn > 0) expected.push_back(fmt::format("c_{}", turn - 1));
    if (turn < 5) expected.push_back(fmt::format("c_{}", turn + 1));
    EXPECT_EQ(pair["related"].get<std::vector<std::string>>(), expected);
    EXPECT_EQ(pair["query"].get<std::string>().find("Caroline:"), std::string::npos);  // header left out
  });
}

}  // namespace
