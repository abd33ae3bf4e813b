// `memembed eval`: LMEB-style evaluation (tasks -> retrieval -> metrics -> reports), plus
// `eval score` (trec_eval-compatible scoring of any run file), `eval correlate` and `eval report`.
#include "commands.h"
#include "endpoint_options.h"
#include "precision_option.h"
#include "memembed/error.h"
#include "memembed/eval.h"
#include "memembed/json_io.h"
#include "memembed/memory.h"
#include "memembed/model.h"

#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <sstream>

namespace memembed::cli {

namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_interrupt(int) {
  // First Ctrl-C: finish the current step and keep what is done; a second one kills the process.
  g_stop.store(true);
  std::signal(SIGINT, SIG_DFL);
}

std::vector<int> parse_cutoffs(const std::string& text) {
  std::vector<int> cutoffs;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item.empty()) continue;
    try {
      size_t used = 0;
      const int k = std::stoi(item, &used);
      if (used != item.size()) throw std::invalid_argument(item);
      cutoffs.push_back(k);
    } catch (const std::exception&) {
      throw invalid_input("--k: '{}' is not an integer (expected a list like 1,3,5,10)", item);
    }
  }
  if (cutoffs.empty()) throw invalid_input("--k: no cutoffs given");
  return cutoffs;
}

// Documents for `tune-fusion --docs`: a corpus.jsonl ((title + " " + text).strip() per line), a
// memory store's data directory, or a folder of corpus .jsonl files and .txt/.md files (split into
// paragraphs at blank lines).
void read_corpus_jsonl(const std::filesystem::path& path, std::vector<std::string>& docs) {
  for_each_jsonl(path, [&](const Json& line, size_t number) {
    const std::string where = fmt::format("{}:{}", path.string(), number);
    const std::string title = optional_string(line, "title", where).value_or("");
    docs.push_back(strip_unicode_whitespace(title + " " + optional_string(line, "text", where).value_or("")));
  });
}

std::vector<std::string> read_documents(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  std::vector<std::string> docs;
  if (fs::is_regular_file(path)) {
    read_corpus_jsonl(path, docs);
    return docs;
  }
  if (!fs::is_directory(path)) throw not_found("--docs {}: no such file or directory", path.string());
  if (fs::exists(path / "memories.db")) {
    return memory::calibration_documents(*memory::open_sqlite_backend(path), memory::now_micros());
  }
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(path)) {
    const auto ext = entry.path().extension();
    const bool corpus = entry.path().filename() == "corpus.jsonl";
    if (entry.is_regular_file() && (corpus || ext == ".txt" || ext == ".md" || ext == ".markdown")) {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    if (file.extension() == ".jsonl") {
      read_corpus_jsonl(file, docs);
      continue;
    }
    std::stringstream text(read_file(file));
    std::string line, paragraph;
    auto flush = [&] {
      if (!strip_unicode_whitespace(paragraph).empty()) docs.push_back(strip_unicode_whitespace(paragraph));
      paragraph.clear();
    };
    while (std::getline(text, line)) {
      if (strip_unicode_whitespace(line).empty()) flush();
      else paragraph += line + "\n";
    }
    flush();
  }
  return docs;
}

void print_warnings(const std::vector<std::string>& warnings) {
  for (const auto& w : warnings) std::fprintf(stderr, "memembed eval: warning: %s\n", w.c_str());
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto* eval = app.add_subcommand(
      "eval", "Evaluate a model (or BM25) on LMEB/BEIR retrieval tasks, like LMEB/MTEB score them");
  eval->require_subcommand(0, 1);

  struct State {
    eval::EvalOptions options;
    std::string instructions = "off";
    std::string cutoffs = "1,3,5,10,20,25,50,100,1000";
    std::string fusion = "zscore";
    bool no_cache = false;
  };
  auto state = std::make_shared<State>();
  eval->add_option("--tasks", state->options.tasks,
                   "LMEB tree, memory-type folder, dataset, subset or BEIR folder");
  eval->add_option("--model", state->options.model,
                   "bm25, a sentence-transformers model directory (or ORG/NAME), openai:URL#MODEL, or hybrid:MODEL")
      ->capture_default_str();
  eval->add_option("--instructions", state->instructions,
                   "off | on | both: query instructions from task_instructions.json")
      ->check(CLI::IsMember({"off", "on", "both"}))
      ->capture_default_str();
  eval->add_option("--out", state->options.out,
                   "write summary.csv, summary.md, report.html and results/ here (reused on rerun)");
  eval->add_option("--save-run", state->options.save_run,
                   "write TREC run.trec + qrels.trec per subset under this directory");
  eval->add_option("--run-depth", state->options.run_depth,
                   "results per query in run files (0 = the largest k)");
  eval->add_option("--k", state->cutoffs, "cutoffs, comma-separated (10 is always included)")
      ->capture_default_str();
  eval->add_option("--max-tokens", state->options.max_tokens, "truncate model inputs to N tokens")
      ->capture_default_str();
  eval->add_option("--cache-dir", state->options.cache_dir,
                   "corpus-embedding cache (default $MEMEMBED_EMBEDDING_CACHE or ~/.cache/memembed/embeddings)");
  eval->add_flag("--no-cache", state->no_cache, "do not read or write the embedding cache");
  eval->add_flag("--overwrite", state->options.overwrite,
                 "recompute subsets that already have results in --out");
  eval->add_option("--threads", state->options.threads, "threads (0 = all cores)");
  add_precision_option(eval, state->options.precision);
  eval->add_option("--batch-size", state->options.batch_size, "texts per model batch")
      ->capture_default_str();
  eval->add_option("--split", state->options.split, "BEIR qrels split (qrels/<split>.tsv)")
      ->capture_default_str();
  eval->add_option("--memory-type", state->options.memory_type,
                   "memory type for tasks whose path names none (e.g. a BEIR folder)");
  eval->add_option("--instructions-file", state->options.instructions_file,
                   "task_instructions.json to use instead of the one found beside the tasks");
  eval->add_option("--published", state->options.published_scores,
                   "published scores CSV to compare with (default: the LMEB paper's tables)");

  eval->add_option("--fusion-weight", state->options.fusion.weight,
                   "--model hybrid:DIR: dense share of the fusion, 0..1 (pick it with `eval tune-fusion`)")
      ->capture_default_str();
  eval->add_option("--fusion", state->fusion, "--model hybrid:DIR: zscore | minmax | rrf")->capture_default_str();
  add_endpoint_options(eval, state->options.remote);

  // eval tune-fusion
  struct TuneState {
    eval::EvalOptions options;
    std::string docs, fusion = "zscore";
    bool json = false;
    retrieval::SelfSupervisedOptions queries;
    double confidence = 0.95;
  };
  auto tune_state = std::make_shared<TuneState>();
  auto* tune = eval->add_subcommand(
      "tune-fusion",
      "Choose the dense weight of BM25 + dense fusion for a model, on evaluation queries (--tasks) or from "
      "documents alone (--docs: corpus.jsonl, a folder of .txt/.md files, or a memory store)");
  tune->add_option("--model", tune_state->options.model, "the dense model directory")->required();
  tune->add_option("--tasks", tune_state->options.tasks, "LMEB/BEIR tasks: tune on their queries");
  tune->add_option("--docs", tune_state->docs, "tune on self-supervised queries made from these documents (corpus.jsonl, a folder, a memory store)");
  tune->add_option("--fusion", tune_state->fusion, "zscore | minmax | rrf")->capture_default_str();
  tune->add_option("--max-queries", tune_state->queries.max_queries, "--docs: self-supervised queries made")->capture_default_str();
  tune->add_option("--window", tune_state->queries.window,
                   "--docs: rank each query among the documents this many places around its own (0 = all)")
      ->capture_default_str();
  tune->add_option("--seed", tune_state->queries.seed, "--docs: seed of the query generator")->capture_default_str();
  tune->add_option("--confidence", tune_state->confidence,
                   "take a dense share only when the best weight beats the smaller ones in this share of bootstrap resamples")
      ->check(CLI::Range(0.5, 0.999))
      ->capture_default_str();
  tune->add_option("--threads", tune_state->options.threads, "threads (0 = all cores)");
  tune->add_flag("--json", tune_state->json, "print {\"fusion_weight\": W, ...}");
  tune->callback([tune_state] {
    auto& t = *tune_state;
    if (t.options.tasks.empty() == t.docs.empty()) throw invalid_input("tune-fusion: give exactly one of --tasks and --docs");
    t.options.fusion.method = retrieval::parse_fusion(t.fusion);
    retrieval::FusionTuning tuning;
    if (!t.docs.empty()) {
      embed::EncoderOptions encoder;
      model::configure_compute({t.options.threads});
      auto model = memory::load_model_embedder(t.options.model, encoder);
      tuning = retrieval::tune_fusion_on_documents(
          read_documents(t.docs), [&](const std::vector<std::string>& x) { return model->embed_documents(x); },
          [&](const std::vector<std::string>& x) { return model->embed_queries(x, std::nullopt); }, t.options.fusion,
          t.queries, t.confidence);
    } else {
      tuning = eval::tune_fusion_on_tasks(t.options, t.confidence);
    }
    if (t.json) {
      Json curve = Json::object(), wins = Json::object();
      for (size_t i = 0; i < tuning.grid.size(); ++i) {
        curve[fmt::format("{}", tuning.grid[i])] = tuning.ndcg_at_10[i];
        wins[fmt::format("{}", tuning.grid[i])] = tuning.best_wins[i];
      }
      Json out{{"fusion_weight", tuning.weight}, {"best_weight", tuning.best_weight},
               {"fusion", retrieval::to_string(t.options.fusion.method)}, {"queries", tuning.queries},
               {"ndcg_at_10", curve}, {"best_wins", wins}, {"reason", tuning.reason}};
      if (!tuning.query_styles.empty()) out["query_styles"] = tuning.query_styles;
      std::cout << out.dump(2) << std::endl;
    } else {
      for (size_t i = 0; i < tuning.grid.size(); ++i) std::cout << fmt::format("weight {:.1f}  NDCG@10 {:.4f}\n", tuning.grid[i], tuning.ndcg_at_10[i]);
      std::cout << "fusion_weight " << tuning.weight << "  (" << tuning.reason << ")" << std::endl;
    }
  });

  // eval score
  struct ScoreState {
    std::string qrels, run, cutoffs = "1,3,5,10,20,25,50,100,1000";
    eval::ScoreOptions options;
  };
  auto score_state = std::make_shared<ScoreState>();
  auto* score = eval->add_subcommand(
      "score", "Score a TREC run against qrels exactly as trec_eval 9.0.8 (MTEB conventions)");
  score->add_option("--qrels", score_state->qrels,
                    "qrels: 'qid docid rel' (LMEB/BEIR TSV) or 'qid iter docid rel' (TREC)")
      ->required();
  score->add_option("--run", score_state->run, "TREC run: qid Q0 docid rank score tag")->required();
  score->add_option("--k", score_state->cutoffs, "cutoffs, comma-separated")->capture_default_str();
  score->add_flag("--per-query", score_state->options.per_query, "print every query too");
  score->add_flag("--json", score_state->options.json, "JSON output (full precision, MTEB names too)");
  score->add_flag("--trec-eval-mean", score_state->options.trec_eval_mean,
                  "average over queries in both run and qrels (trec_eval default) instead of "
                  "all qrels queries (MTEB, trec_eval -c)");
  score->add_option("--digits", score_state->options.digits, "decimals in text output")
      ->capture_default_str();
  score->callback([score_state] {
    score_state->options.cutoffs = parse_cutoffs(score_state->cutoffs);
    const auto output = eval::score_files(score_state->qrels, score_state->run, score_state->options);
    print_warnings(output.warnings);
    std::fwrite(output.text.data(), 1, output.text.size(), stdout);
  });

  // eval correlate
  auto correlate_options = std::make_shared<eval::CorrelateOptions>();
  auto* correlate = eval->add_subcommand(
      "correlate",
      "Pearson and Spearman correlation between a score column of A.csv and one of B.csv, rows "
      "matched on --key (CSV with a header; '#' lines before it are comments)");
  correlate->add_option("a", correlate_options->a, "first CSV file")->required();
  correlate->add_option("b", correlate_options->b, "second CSV file (default: A again)");
  correlate->add_option("--a-column", correlate_options->a_column, "score column of A")->required();
  correlate->add_option("--b-column", correlate_options->b_column, "score column of B")->required();
  correlate->add_option("--key", correlate_options->key, "column naming the row (in both files)")
      ->capture_default_str();
  correlate->add_option("--a-where", correlate_options->a_where,
                        "keep rows of A where column=value (repeatable)");
  correlate->add_option("--b-where", correlate_options->b_where,
                        "keep rows of B where column=value (repeatable)");
  correlate->add_flag("--json", correlate_options->json, "JSON output");
  correlate->callback([correlate_options] {
    const auto output = eval::correlate_files(*correlate_options);
    print_warnings(output.warnings);
    std::fwrite(output.text.data(), 1, output.text.size(), stdout);
  });

  // eval report
  auto report_options = std::make_shared<eval::ReportOptions>();
  auto* report = eval->add_subcommand(
      "report", "One summary.md / report.html comparing several `eval --out` directories");
  report->add_option("results", report_options->results, "directories written by `eval --out`")
      ->required();
  report->add_option("--html", report_options->html, "write the HTML report here");
  report->add_option("--md", report_options->markdown, "write the markdown summary here");
  report->add_option("--published", report_options->published_scores,
                     "published scores CSV (default: the LMEB paper's tables)");
  report->callback([report_options] { eval::write_comparison_report(*report_options); });

  eval->callback([score, correlate, report, tune, state] {
    if (score->parsed() || correlate->parsed() || report->parsed() || tune->parsed()) return;
    state->options.fusion.method = retrieval::parse_fusion(state->fusion);
    if (state->options.tasks.empty()) {
      throw invalid_input("eval: --tasks is required (or use `eval score|correlate|report`)");
    }
    state->options.cutoffs = parse_cutoffs(state->cutoffs);
    state->options.instructions = state->instructions == "on"     ? eval::InstructionMode::On
                                  : state->instructions == "both" ? eval::InstructionMode::Both
                                                                  : eval::InstructionMode::Off;
    state->options.use_cache = !state->no_cache;
    model::configure_compute({state->options.threads});
    if (state->options.model != "bm25") announce_precision(state->options.precision);
    g_stop.store(false);
    state->options.stop = &g_stop;
    auto previous = std::signal(SIGINT, on_interrupt);
    eval::EvalResult result;
    try {
      result = eval::run_evaluation(state->options);
    } catch (...) {
      std::signal(SIGINT, previous);
      throw;
    }
    std::signal(SIGINT, previous);
    std::fwrite(result.summary.data(), 1, result.summary.size(), stdout);
    if (!state->options.out.empty()) {
      std::fprintf(stderr, "memembed eval: results in %s (summary.csv, summary.md, report.html)\n",
                   state->options.out.string().c_str());
    }
    if (result.interrupted) {
      std::fprintf(stderr,
                   "memembed eval: interrupted; %zu finished subset results are kept, rerun the "
                   "same command to resume\n",
                   result.subsets.size());
      std::exit(130);
    }
  });
}

}  // namespace memembed::cli
