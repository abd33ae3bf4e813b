// Base vs tuned on the held-out set (and any real task trees), the paired test and the gate
// (tune.h, evaluate_gate).
#include "memembed/error.h"
#include "memembed/eval.h"
#include "memembed/tune.h"

#include <random>

namespace memembed::tune {

namespace {

const std::vector<int> kCutoffs = {1, 3, 5, 10, 20, 50, 60, 100};

Scores scores_of(const eval::SubsetResult& subset) {
  auto value = [&](const char* name) {
    const auto it = subset.scores.find(name);
    return it != subset.scores.end() && it->second ? *it->second : 0.0;
  };
  return {value("ndcg_at_10"), value("recall_at_10"), value("recall_at_60")};
}

Json scores_json(const Scores& scores) {
  return {{"ndcg_at_10", scores.ndcg_at_10}, {"recall_at_10", scores.recall_at_10}, {"recall_at_60", scores.recall_at_60}};
}

eval::EvalResult evaluate(const fs::path& tasks, const fs::path& model, const fs::path& out, int threads,
                          const std::string& memory_type) {
  eval::EvalOptions options;
  options.tasks = tasks;
  options.model = model.string();
  options.out = out;
  options.save_run = out / "runs";
  options.cutoffs = kCutoffs;
  options.use_cache = false;
  options.overwrite = true;
  options.threads = threads;
  options.memory_type = memory_type;
  return eval::run_evaluation(options);
}

// Per-query NDCG@10 of the one run under `runs` (trec_eval's ndcg_cut_10), by query id.
std::map<std::string, double> per_query_ndcg(const fs::path& runs) {
  for (const auto& entry : fs::recursive_directory_iterator(runs)) {
    if (entry.path().filename() != "run.trec") continue;
    eval::ScoreOptions options;
    options.cutoffs = {10};
    options.per_query = true;
    options.json = true;
    const Json report = Json::parse(eval::score_files(entry.path().parent_path() / "qrels.trec", entry.path(), options).text);
    std::map<std::string, double> values;
    for (const auto& [query, scores] : report.at("per_query").items()) {
      values[query] = scores.at("ndcg_cut_10").is_number() ? scores.at("ndcg_cut_10").get<double>() : 0.0;
    }
    return values;
  }
  throw not_found("{}: no run.trec was written", runs.string());
}

// Two-sided paired randomisation test: the share of random sign flips of the per-query
// differences whose mean is at least as far from 0 as the observed one.
double paired_randomisation_p(const std::vector<double>& differences, uint64_t seed, size_t draws = 10000) {
  if (differences.empty()) return 1.0;
  double observed = 0;
  for (double d : differences) observed += d;
  observed = std::abs(observed);
  std::mt19937_64 rng(seed);
  std::bernoulli_distribution flip(0.5);
  size_t extreme = 0;
  for (size_t draw = 0; draw < draws; ++draw) {
    double sum = 0;
    for (double d : differences) sum += flip(rng) ? -d : d;
    if (std::abs(sum) >= observed - 1e-12) ++extreme;
  }
  return static_cast<double>(extreme + 1) / static_cast<double>(draws + 1);
}

}  // namespace

Json GateDecision::to_json() const {
  Json subset_list = Json::array();
  for (const SubsetComparison& subset : subsets) {
    subset_list.push_back({{"task", subset.task}, {"subset", subset.subset}, {"base", scores_json(subset.base)},
                           {"tuned", scores_json(subset.tuned)}});
  }
  return {{"base", scores_json(base)}, {"tuned", scores_json(tuned)}, {"p_value", p_value},
          {"queries", queries},       {"passed", passed},             {"reason", reason},
          {"subsets", subset_list},   {"regressed", regressed}};
}

GateDecision evaluate_gate(const EvaluateOptions& options) {
  if (!fs::exists(options.eval_dir / "queries.jsonl")) {
    throw not_found("{}: no held-out set (queries.jsonl); run `memembed tune generate` first", options.eval_dir.string());
  }
  if (!fs::exists(options.tuned_model)) throw not_found("{}: no tuned model", options.tuned_model.string());
  GateDecision decision;
  const eval::EvalResult base = evaluate(options.eval_dir, options.base_model, options.out_dir / "held-out" / "base",
                                         options.threads, "Semantic");
  const eval::EvalResult tuned = evaluate(options.eval_dir, options.tuned_model, options.out_dir / "held-out" / "tuned",
                                          options.threads, "Semantic");
  if (base.subsets.size() != 1 || tuned.subsets.size() != 1) {
    throw invalid_input("{}: expected one held-out subset", options.eval_dir.string());
  }
  decision.base = scores_of(base.subsets[0]);
  decision.tuned = scores_of(tuned.subsets[0]);
  decision.subsets.push_back({"held-out", base.subsets[0].subset, decision.base, decision.tuned});

  const auto base_queries = per_query_ndcg(options.out_dir / "held-out" / "base" / "runs");
  const auto tuned_queries = per_query_ndcg(options.out_dir / "held-out" / "tuned" / "runs");
  std::vector<double> differences;
  for (const auto& [query, value] : tuned_queries) {
    const auto it = base_queries.find(query);
    differences.push_back(value - (it == base_queries.end() ? 0.0 : it->second));
  }
  decision.queries = differences.size();
  decision.p_value = paired_randomisation_p(differences, options.seed);

  for (const fs::path& tasks : options.extra_tasks) {
    const std::string label = tasks.filename().string();
    const eval::EvalResult extra_base = evaluate(tasks, options.base_model, options.out_dir / label / "base", options.threads, "");
    const eval::EvalResult extra_tuned = evaluate(tasks, options.tuned_model, options.out_dir / label / "tuned", options.threads, "");
    for (const eval::SubsetResult& subset : extra_base.subsets) {
      for (const eval::SubsetResult& other : extra_tuned.subsets) {
        if (other.dataset == subset.dataset && other.subset == subset.subset) {
          decision.subsets.push_back({subset.memory_type + "/" + subset.dataset, subset.subset, scores_of(subset), scores_of(other)});
        }
      }
    }
  }
  for (const SubsetComparison& subset : decision.subsets) {
    if (subset.tuned.ndcg_at_10 < subset.base.ndcg_at_10) decision.regressed.push_back(subset.task + "/" + subset.subset);
  }

  const double gain = decision.tuned.ndcg_at_10 - decision.base.ndcg_at_10;
  if (gain <= 0) {
    decision.reason = fmt::format("held-out NDCG@10 did not improve ({:.4f} -> {:.4f})", decision.base.ndcg_at_10,
                                  decision.tuned.ndcg_at_10);
  } else if (decision.p_value >= options.alpha) {
    decision.reason = fmt::format("held-out NDCG@10 rose {:.4f} -> {:.4f}, but not significantly (p = {:.3g} >= {})",
                                  decision.base.ndcg_at_10, decision.tuned.ndcg_at_10, decision.p_value, options.alpha);
  } else {
    decision.passed = true;
    decision.reason = fmt::format("held-out NDCG@10 rose {:.4f} -> {:.4f} (p = {:.3g} over {} queries)",
                                  decision.base.ndcg_at_10, decision.tuned.ndcg_at_10, decision.p_value, decision.queries);
  }
  if (!decision.regressed.empty()) {
    decision.reason += fmt::format("; regressed: {}", fmt::join(decision.regressed, ", "));
  }
  fs::create_directories(options.out_dir);
  write_json_file(options.out_dir / "evaluation.json", decision.to_json());
  return decision;
}

}  // namespace memembed::tune
