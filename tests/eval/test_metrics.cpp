// Metrics against trec_eval 9.0.8 reference output: every hand case and every BM25 run in
// ../shared/metrics, per query and in both means, plus the mteb-stored (rounded) values and the
// derived measures (mrr_at_k, R_cap_at_k).
#include "eval_test_support.h"
#include "memembed/error.h"
#include "memembed/json_io.h"
#include "metrics.h"
#include "qrels.h"
#include "ranking.h"
#include "run_file.h"
#include "scoring.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

namespace fs = std::filesystem;
using namespace memembed;
using namespace memembed::eval;
using memembed::eval_test::shared_dir;
using memembed::eval_test::TempDir;
using memembed::eval_test::write_file;

namespace {

constexpr double kTolerance = 1e-6;

fs::path metrics_dir() { return shared_dir() / "metrics"; }

std::map<std::string, const QueryScores*> by_query(const ScoreReport& report) {
  std::map<std::string, const QueryScores*> out;
  for (const auto& q : report.per_query) out[q.query_id] = &q;
  return out;
}

// Compares every trec_eval measure the reference has with ours; returns the number compared.
size_t expect_trec_values(const MetricSet& set, const std::vector<double>& ours, const Json& ref,
                          const std::string& context) {
  size_t compared = 0;
  for (size_t i = 0; i < set.size(); ++i) {
    const std::string name = set.trec_name(i);
    if (!ref.contains(name)) continue;
    EXPECT_NEAR(ours[i], ref[name].get<double>(), kTolerance) << context << " " << name;
    ++compared;
  }
  return compared;
}

void expect_derived(const MetricSet& set, const std::vector<double>& ours, const Json& ref,
                    bool rounded_r_cap, const std::string& context) {
  for (size_t c = 0; c < set.cutoffs().size(); ++c) {
    const int k = set.cutoffs()[c];
    const std::string mrr = "mrr_at_" + std::to_string(k);
    const std::string rcap = "R_cap_at_" + std::to_string(k);
    ASSERT_TRUE(ref.contains(mrr)) << context << " " << mrr;
    EXPECT_NEAR(ours[set.index(Measure::Mrr, c)], ref[mrr].get<double>(), kTolerance)
        << context << " " << mrr;
    double rc = ours[set.index(Measure::RCap, c)];
    if (ref[rcap].is_null()) {
      EXPECT_TRUE(std::isnan(rc)) << context << " " << rcap << " should be undefined";
    } else {
      if (rounded_r_cap) rc = round_like_python(rc, 5);
      EXPECT_NEAR(rc, ref[rcap].get<double>(), kTolerance) << context << " " << rcap;
    }
  }
}

// Checks one case: qrels + run against its reference.json.
void check_reference(const fs::path& qrels_path, const fs::path& run_path, const Json& ref,
                     const std::string& label) {
  const MetricSet set;
  const Qrels qrels = Qrels::read(qrels_path);
  const TrecRun run = TrecRun::read(run_path);

  // trec_eval default: queries in run and qrels, per query and mean.
  const ScoreReport trec = score_run(qrels, run, set, /*trec_eval_mean=*/true);
  const auto trec_queries = by_query(trec);
  ASSERT_EQ(trec_queries.size(), ref["per_query"].size()) << label;
  size_t compared = 0;
  for (const auto& [qid, values] : ref["per_query"].items()) {
    auto it = trec_queries.find(qid);
    ASSERT_NE(it, trec_queries.end()) << label << " missing query " << qid;
    compared += expect_trec_values(set, it->second->values, values, label + " " + qid);
  }
  EXPECT_GT(compared, 0u) << label;
  expect_trec_values(set, trec.mean, ref["mean"], label + " mean");

  // MTEB convention (trec_eval -c).
  const ScoreReport mteb = score_run(qrels, run, set, /*trec_eval_mean=*/false);
  expect_trec_values(set, mteb.mean, ref["mean_complete"], label + " mean_complete");
  for (const auto& [name, value] : ref["mteb_equivalent_scores"].items()) {
    bool found = false;
    for (size_t i = 0; i < set.size(); ++i) {
      if (set.mteb_name(i) != name) continue;
      found = true;
      EXPECT_NEAR(mteb_stored_value(set, i, mteb.mean[i]), value.get<double>(), 1e-12)
          << label << " " << name;
    }
    EXPECT_TRUE(found) << label << " " << name;
  }

  // Derived measures: per query over the MTEB query set, mean with R_cap rounded as LMEB stores it.
  const Json& derived = ref["derived_not_trec_eval"];
  const auto mteb_queries = by_query(mteb);
  for (const auto& [qid, values] : derived["per_query"].items()) {
    auto it = mteb_queries.find(qid);
    ASSERT_NE(it, mteb_queries.end()) << label << " missing query " << qid;
    expect_derived(set, it->second->values, values, false, label + " " + qid);
  }
  expect_derived(set, mteb.mean, derived["mean"], true, label + " derived mean");
}

std::vector<fs::path> case_dirs() {
  std::vector<fs::path> dirs;
  const fs::path root = metrics_dir() / "cases";
  if (!fs::exists(root)) return dirs;
  for (const auto& entry : fs::directory_iterator(root)) {
    if (entry.is_directory()) dirs.push_back(entry.path());
  }
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

}  // namespace

TEST(TrecEvalCases, EveryHandCaseMatchesPerQueryAndMean) {
  EVAL_REQUIRE_SHARED(metrics_dir() / "cases");
  size_t checked = 0;
  for (const fs::path& dir : case_dirs()) {
    const Json ref = read_json_file(dir / "reference.json");
    const std::string label = dir.filename().string();
    if (!ref.contains("per_query")) {
      // c08 raw: trec_eval refuses duplicates; we de-duplicate (last wins), which must give the
      // reference of the de-duplicated form.
      const std::string target = ref["reference"].get<std::string>();
      ASSERT_NE(target.find("c08_duplicate_docids_deduped"), std::string::npos) << label;
      const Json deduped =
          read_json_file(dir.parent_path() / "c08_duplicate_docids_deduped" / "reference.json");
      check_reference(dir / "qrels.tsv", dir / "run.trec", deduped, label);
      ++checked;
      continue;
    }
    // Both qrels formats must read the same.
    check_reference(dir / "qrels.tsv", dir / "run.trec", ref, label + " (tsv)");
    check_reference(dir / "qrels.trec", dir / "run.trec", ref, label + " (trec)");
    ++checked;
  }
  EXPECT_GE(checked, 12u);
}

TEST(TrecEvalCases, RankingMatchesTrecEvalOrder) {
  EVAL_REQUIRE_SHARED(metrics_dir() / "cases");
  size_t checked = 0;
  for (const fs::path& dir : case_dirs()) {
    const Json ref = read_json_file(dir / "reference.json");
    if (!ref.contains("ranking_trec_eval_order")) continue;
    const TrecRun run = TrecRun::read(dir / "run.trec");
    for (size_t q = 0; q < run.num_queries(); ++q) {
      std::vector<ScoredDoc> docs;
      for (const RunDoc* d = run.begin(q); d != run.end(q); ++d) docs.push_back({d->score, d->doc_id});
      rank_documents(docs, docs.size());
      std::vector<std::string> ours;
      for (const auto& d : docs) ours.emplace_back(d.doc_id);
      const auto expected =
          ref["ranking_trec_eval_order"][std::string(run.query_id(q))].get<std::vector<std::string>>();
      EXPECT_EQ(ours, expected) << dir.filename() << " " << run.query_id(q);
      ++checked;
    }
  }
  EXPECT_GT(checked, 10u);
}

TEST(TrecEvalBm25, EveryReferenceRunMatches) {
  const fs::path root = metrics_dir() / "bm25";
  EVAL_REQUIRE_SHARED(root);
  size_t checked = 0;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.path().filename() != "reference.json") continue;
    const Json ref = read_json_file(entry.path());
    const fs::path task = shared_dir() / "lmeb" / ref["task_dir_relative"].get<std::string>();
    check_reference(task / "qrels.tsv", entry.path().parent_path() / "run.trec", ref,
                    ref["task"].get<std::string>());
    ++checked;
  }
  EXPECT_GE(checked, 14u);
}

TEST(Metrics, ShufflingTheRunChangesNothing) {
  EVAL_REQUIRE_SHARED(metrics_dir() / "bm25");
  const fs::path case_dir = metrics_dir() / "bm25" / "Dialogue" / "LoCoMo" / "open_domain";
  const fs::path qrels_path = shared_dir() / "lmeb" / "Dialogue" / "LoCoMo" / "open_domain" / "qrels.tsv";
  std::ifstream in(case_dir / "run.trec");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::mt19937 rng(7);
  std::shuffle(lines.begin(), lines.end(), rng);
  TempDir tmp;
  std::string shuffled;
  for (size_t i = 0; i < lines.size(); ++i) {
    // Also scramble the rank column: trec_eval ignores it.
    std::istringstream fields(lines[i]);
    std::string q, q0, d, rank, score, tag;
    fields >> q >> q0 >> d >> rank >> score >> tag;
    shuffled += q + "\tQ0\t" + d + "\t" + std::to_string(lines.size() - i) + "\t" + score + "\t" + tag + "\n";
  }
  write_file(tmp / "shuffled.trec", shuffled);
  const MetricSet set;
  const Qrels qrels = Qrels::read(qrels_path);
  const ScoreReport a = score_run(qrels, TrecRun::read(case_dir / "run.trec"), set, false);
  const ScoreReport b = score_run(qrels, TrecRun::read(tmp / "shuffled.trec"), set, false);
  ASSERT_EQ(a.per_query.size(), b.per_query.size());
  for (size_t i = 0; i < set.size(); ++i) {
    if (std::isnan(a.mean[i])) continue;
    EXPECT_EQ(a.mean[i], b.mean[i]) << set.trec_name(i);
  }
}

TEST(Metrics, HandComputedGradedNdcg) {
  // Ranking rel [2, 0, 1] with qrels {2, 1, 1 (unretrieved)}:
  // DCG@3 = 2/log2(2) + 1/log2(4) = 2.5; IDCG@3 = 2 + 1/log2(3) + 1/2.
  const MetricSet set({1, 3});
  const Judgments judgments = make_judgments({2, 1, 1, 0});
  EXPECT_EQ(judgments.num_rel, 3);
  RankedRelevance ranked;
  ranked.top = {2, 0, 1};
  ranked.num_ret = 3;
  ranked.num_rel_ret = 2;
  ranked.first_rel_rank = 1;
  std::vector<double> out(set.size());
  compute_query_metrics(set, judgments, ranked, out.data());
  EXPECT_DOUBLE_EQ(out[set.index_at(Measure::Ndcg, 3)], 2.5 / (2.0 + 1.0 / std::log2(3.0) + 0.5));
  EXPECT_DOUBLE_EQ(out[set.index_at(Measure::Ndcg, 1)], 1.0);
  EXPECT_DOUBLE_EQ(out[set.index_at(Measure::Precision, 3)], 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(out[set.index_at(Measure::Recall, 3)], 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(out[set.index_at(Measure::Map, 3)], (1.0 + 2.0 / 3.0) / 3.0);
  EXPECT_DOUBLE_EQ(out[set.index_at(Measure::RCap, 1)], 1.0);
  EXPECT_DOUBLE_EQ(out[set.index_at(Measure::RCap, 3)], 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(out[set.index_at(Measure::Mrr, 1)], 1.0);
}

TEST(Metrics, PythonRoundingTiesToEvenOnTheBinaryValue) {
  EXPECT_EQ(round_like_python(0.015625, 5), 0.01562);  // exact tie in binary: to even
  EXPECT_EQ(round_like_python(0.123456, 5), 0.12346);
  EXPECT_EQ(round_like_python(2.675, 2), 2.67);          // 2.675 is 2.67499999... in binary
  EXPECT_TRUE(std::isnan(round_like_python(std::nan(""), 5)));
}

TEST(Metrics, RejectsBadCutoffs) {
  EXPECT_THROW(MetricSet({0, 10}), Error);
  EXPECT_THROW(MetricSet(std::vector<int>{}), Error);
  const MetricSet set({10, 1, 10});
  EXPECT_EQ(set.cutoffs(), (std::vector<int>{1, 10}));
  EXPECT_THROW(set.index_at(Measure::Ndcg, 5), Error);
}

TEST(RunFile, MalformedLinesNameFileAndLine) {
  TempDir tmp;
  write_file(tmp / "short.trec", "q1 Q0 d1 1 0.5 tag\nq1 Q0 d2 2 0.4\n");
  try {
    TrecRun::read(tmp / "short.trec");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find("short.trec:2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("6 fields"), std::string::npos) << e.what();
  }
  write_file(tmp / "score.trec", "q1 Q0 d1 1 high tag\n");
  try {
    TrecRun::read(tmp / "score.trec");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("score.trec:1: score (field 5) 'high'"), std::string::npos)
        << e.what();
  }
  write_file(tmp / "nan.trec", "q1 Q0 d1 1 nan tag\n");
  EXPECT_THROW(TrecRun::read(tmp / "nan.trec"), Error);
  try {
    TrecRun::read(tmp / "absent.trec");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
  }
}

TEST(RunFile, ShortFilesSurviveMoves) {
  TempDir tmp;
  write_file(tmp / "tiny.trec", "q Q0 d 1 1 t");  // 13 bytes, no final newline
  TrecRun run = TrecRun::read(tmp / "tiny.trec");
  TrecRun moved = std::move(run);
  ASSERT_EQ(moved.num_queries(), 1u);
  EXPECT_EQ(moved.query_id(0), "q");
  EXPECT_EQ(moved.begin(0)->doc_id, "d");
}

TEST(RunFile, ScoresRoundTripThroughFloat32) {
  for (float v : {0.1f, 1.0f / 3.0f, -2.5e-7f, 12345.678f, 0.0f, 1e30f}) {
    const std::string text = format_score(v);
    EXPECT_EQ(static_cast<float>(std::strtod(text.c_str(), nullptr)), v) << text;
  }
  std::ostringstream out;
  write_run_line(out, "q1", "d1", 1, 0.5f, "tag");
  EXPECT_EQ(out.str(), "q1 Q0 d1 1 0.5 tag\n");
  EXPECT_THROW(write_run_line(out, "q 1", "d1", 1, 0.5f, "tag"), Error);
}

TEST(QrelsFile, ReadsBeirHeaderAndRejectsBadRelevance) {
  TempDir tmp;
  write_file(tmp / "beir.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t0\nq2\td1\t2\n");
  const Qrels qrels = Qrels::read(tmp / "beir.tsv");
  ASSERT_EQ(qrels.query_ids().size(), 2u);
  ASSERT_NE(qrels.find("q1"), nullptr);
  EXPECT_EQ(qrels.find("q1")->size(), 2u);
  EXPECT_EQ(qrels.find("q2")->front().relevance, 2);

  write_file(tmp / "float.tsv", "q1\td1\t1\nq1\td2\t0.5\n");
  try {
    Qrels::read(tmp / "float.tsv");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("float.tsv:2: relevance '0.5' is not an integer"),
              std::string::npos)
        << e.what();
  }
  write_file(tmp / "fields.tsv", "q1\td1\n");
  try {
    Qrels::read(tmp / "fields.tsv");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fields.tsv:1: expected 3 fields"), std::string::npos)
        << e.what();
  }
  // A header is only accepted as the first line.
  write_file(tmp / "late_header.tsv", "q1\td1\t1\nquery-id\tcorpus-id\tscore\n");
  EXPECT_THROW(Qrels::read(tmp / "late_header.tsv"), Error);
}

TEST(QrelsFile, LastDuplicateWins) {
  TempDir tmp;
  write_file(tmp / "dup.tsv", "q1\td1\t1\nq1\td1\t0\nq1\td2\t0\nq1\td2\t3\n");
  const Qrels qrels = Qrels::read(tmp / "dup.tsv");
  ASSERT_EQ(qrels.find("q1")->size(), 2u);
  EXPECT_EQ(qrels.find("q1")->at(0).relevance, 0);
  EXPECT_EQ(qrels.find("q1")->at(1).relevance, 3);
  EXPECT_EQ(qrels.duplicates(), 2u);
}
