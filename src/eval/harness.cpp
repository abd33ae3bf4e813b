// run_evaluation: tasks -> retrieval -> ranking -> measures -> result files and reports.
#include "aggregation.h"
#include "memembed/error.h"
#include "memembed/eval.h"
#include "memembed/json_io.h"
#include "memembed/log.h"
#include "memembed/progress.h"
#include "metrics.h"
#include "published_scores.h"
#include "ranking.h"
#include "report_html.h"
#include "retriever.h"
#include "run_file.h"
#include "summary_table.h"
#include "task_loader.h"
#include "task_result.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>

namespace memembed::eval {

namespace fs = std::filesystem;

namespace {

std::vector<std::string> settings_of(InstructionMode mode) {
  switch (mode) {
    case InstructionMode::Off: return {"off"};
    case InstructionMode::On: return {"on"};
    case InstructionMode::Both: return {"off", "on"};
  }
  return {"off"};
}

fs::path default_embedding_cache() {
  if (const char* dir = std::getenv("MEMEMBED_EMBEDDING_CACHE"); dir && *dir) return dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) {
    return fs::path(xdg) / "memembed" / "embeddings";
  }
  if (const char* home = std::getenv("HOME"); home && *home) {
    return fs::path(home) / ".cache" / "memembed" / "embeddings";
  }
  return fs::temp_directory_path() / "memembed-embeddings";
}

bool stop_requested(const EvalOptions& options) {
  return options.stop != nullptr && options.stop->load();
}

void warn(const std::string& message) { logger()->warn("eval: {}", message); }

std::string run_tag(const std::string& model_name) {
  std::string tag = "memembed_";
  for (char c : model_name) tag += (c == ' ' || c == '\t' || c == '\n' || c == '\r') ? '_' : c;
  return tag;
}

void write_text_atomically(const fs::path& path, const std::string& text) {
  fs::path temporary = path;
  temporary += ".tmp";
  {
    std::ofstream out = open_for_write(temporary);
    out << text;
    if (!out.flush()) throw io_error("{}: write failed", temporary.string());
  }
  std::error_code ec;
  fs::rename(temporary, path, ec);
  if (ec) throw io_error("{}: cannot rename into place: {}", path.string(), ec.message());
}

struct SubsetOutcome {
  SubsetResult result;
  ResultMetadata metadata;
  std::map<std::string, std::optional<double>> stored;
  bool completed = false;
};

// Retrieval and measures for one subset in one instruction setting.
SubsetOutcome evaluate_subset(const SubsetSpec& spec, const LoadedSubset& data,
                              const std::string& setting, const std::string& instruction,
                              Retriever& retriever, const MetricSet& set,
                              const EvalOptions& options, const fs::path& run_path) {
  SubsetOutcome outcome;
  const auto started = std::chrono::steady_clock::now();
  const Corpus& corpus = *data.corpus;
  const size_t n_docs = corpus.ids.size();
  const size_t n_queries = data.queries.ids.size();
  const size_t run_depth = options.run_depth > 0 ? options.run_depth : static_cast<size_t>(set.max_cutoff());
  const size_t depth = std::max(run_depth, static_cast<size_t>(set.max_cutoff()));

  std::vector<std::string> texts(n_queries);
  for (size_t q = 0; q < n_queries; ++q) {
    texts[q] = setting == "on" ? apply_instruction(instruction, data.queries.texts[q]) : data.queries.texts[q];
  }

  std::ofstream run_out;
  fs::path run_temporary;
  if (!run_path.empty()) {
    run_temporary = run_path;
    run_temporary += ".tmp";
    run_out = open_for_write(run_temporary);
  }
  const std::string tag = run_tag(retriever.model_name());

  // Blocks bound the score matrix to ~64 MiB whatever the corpus size.
  const size_t block =
      std::max<size_t>(1, std::min(retriever.query_block(), (size_t{16} << 20) / std::max<size_t>(1, n_docs)));
  std::vector<float> scores;
  std::vector<int64_t> relevance_of(n_docs, kNotJudged);
  std::vector<ScoredDoc> docs;
  std::vector<std::vector<double>> per_query(n_queries, std::vector<double>(set.size()));
  Progress progress(fmt::format("{}/{} [{}]", spec.dataset, spec.subset, setting), n_queries, "queries");
  for (size_t begin = 0; begin < n_queries; begin += block) {
    if (stop_requested(options)) return outcome;
    const size_t end = std::min(n_queries, begin + block);
    const std::vector<std::string> batch(texts.begin() + static_cast<std::ptrdiff_t>(begin),
                                         texts.begin() + static_cast<std::ptrdiff_t>(end));
    const std::vector<const std::vector<uint32_t>*> scopes(data.candidates.begin() + static_cast<std::ptrdiff_t>(begin),
                                                           data.candidates.begin() + static_cast<std::ptrdiff_t>(end));
    retriever.score_in_scopes(batch, scopes, scores);
    if (stop_requested(options)) return outcome;
    MEMEMBED_ASSERT(scores.size() == batch.size() * n_docs);
    for (size_t q = begin; q < end; ++q) {
      const float* row = scores.data() + (q - begin) * n_docs;
      for (const auto& [doc, rel] : data.judged_docs[q]) relevance_of[doc] = rel;
      docs.clear();
      auto add = [&](uint32_t d) {
        if (std::isnan(row[d])) {
          throw invalid_input("{}: the model scored query '{}' against document '{}' as NaN",
                              retriever.model_name(), data.queries.ids[q], corpus.ids[d]);
        }
        docs.push_back(ScoredDoc{row[d], corpus.ids[d], relevance_of[d]});
      };
      if (const std::vector<uint32_t>* scene = data.candidates[q]) {
        for (uint32_t d : *scene) add(d);
      } else {
        for (uint32_t d = 0; d < n_docs; ++d) add(d);
      }
      const RankedRelevance ranked = rank_documents(docs, depth);
      compute_query_metrics(set, data.judgments[q], ranked, per_query[q].data());
      if (run_out.is_open()) {
        const size_t lines = std::min(run_depth, docs.size());
        for (size_t i = 0; i < lines; ++i) {
          write_run_line(run_out, data.queries.ids[q], docs[i].doc_id, i + 1, docs[i].score, tag);
        }
      }
      for (const auto& [doc, rel] : data.judged_docs[q]) relevance_of[doc] = kNotJudged;
    }
    progress.advance(end - begin);
  }
  progress.finish();

  if (run_out.is_open()) {
    if (!run_out.flush()) throw io_error("{}: write failed", run_temporary.string());
    run_out.close();
    std::error_code ec;
    fs::rename(run_temporary, run_path, ec);
    if (ec) throw io_error("{}: cannot rename into place: {}", run_path.string(), ec.message());
    // trec_eval's qrels format, de-duplicated and limited to the evaluated queries.
    std::string qrels_text;
    std::vector<size_t> order(data.qrels.query_ids().size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return data.qrels.query_ids()[a] < data.qrels.query_ids()[b];
    });
    for (size_t qi : order) {
      for (const Judgment& j : data.qrels.judgments(qi)) {
        qrels_text += fmt::format("{} 0 {} {}\n", data.qrels.query_ids()[qi], j.doc_id, j.relevance);
      }
    }
    write_text_atomically(run_path.parent_path() / "qrels.trec", qrels_text);
  }

  const std::vector<double> mean = average_metrics(set, per_query);
  SubsetResult& r = outcome.result;
  r.memory_type = spec.memory_type;
  r.dataset = spec.dataset;
  r.subset = spec.subset;
  r.instructions = setting;
  for (size_t i = 0; i < set.size(); ++i) {
    const std::string name = set.mteb_name(i);
    if (name.empty()) continue;
    const std::optional<double> value = std::isnan(mean[i]) ? std::nullopt : std::optional<double>(mean[i]);
    r.scores[name] = value;
    outcome.stored[name] = value ? std::optional<double>(mteb_stored_value(set, i, *value)) : std::nullopt;
  }
  r.main_score = mean[set.index_at(Measure::Ndcg, 10)];
  r.evaluation_time =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  r.warnings = data.warnings;
  r.warnings.insert(r.warnings.end(), spec.notes.begin(), spec.notes.end());
  outcome.metadata.model_name = retriever.model_name();
  outcome.metadata.model_revision = retriever.model_revision();
  outcome.metadata.retriever_settings = retriever.settings();
  outcome.metadata.cutoffs = set.cutoffs();
  outcome.metadata.num_queries = n_queries;
  outcome.metadata.corpus_size = n_docs;
  outcome.completed = true;
  return outcome;
}

void write_reports(const fs::path& out, const std::vector<ModelRun>& runs, const MetricSet& set,
                   const PublishedScores& published) {
  std::vector<SubsetResult> all;
  for (const auto& run : runs) all.insert(all.end(), run.subsets.begin(), run.subsets.end());
  write_text_atomically(out / "summary.csv", summary_csv(all, set));
  write_text_atomically(out / "summary.md", summary_markdown(runs, published));
  write_text_atomically(out / "report.html", report_html(runs, published));
}

}  // namespace

RetrieverConfig retriever_config(const EvalOptions& options) {
  RetrieverConfig config;
  config.model = options.model;
  config.max_tokens = options.max_tokens;
  config.threads = options.threads;
  config.precision = options.precision;
  config.batch_size = options.batch_size;
  if (options.use_cache) {
    config.cache_dir = options.cache_dir.empty() ? default_embedding_cache() : options.cache_dir;
  }
  config.stop = options.stop;
  config.fusion = options.fusion;
  config.remote = options.remote;
  return config;
}

EvalResult run_evaluation(const EvalOptions& options) {
  std::vector<int> cutoffs = options.cutoffs;
  if (std::find(cutoffs.begin(), cutoffs.end(), 10) == cutoffs.end()) cutoffs.push_back(10);
  const MetricSet set(cutoffs);
  if (options.tasks.empty()) throw invalid_input("--tasks: no task path given");

  const std::vector<SubsetSpec> specs =
      discover_subsets(options.tasks, DiscoveryOptions{options.split, options.memory_type});
  const std::vector<std::string> settings = settings_of(options.instructions);
  const PublishedScores published = load_published_scores(options.published_scores);

  // Resolve every instruction before any work, so a missing key fails in the first second.
  std::map<fs::path, InstructionTable> tables;
  std::vector<std::string> instructions(specs.size());
  if (options.instructions != InstructionMode::Off) {
    for (size_t i = 0; i < specs.size(); ++i) {
      fs::path file = options.instructions_file;
      if (file.empty()) {
        auto found = InstructionTable::find_near(specs[i].dataset_dir);
        if (!found) {
          throw not_found(
              "--instructions {}: no task_instructions.json in {} or above it (use "
              "--instructions-file)",
              options.instructions == InstructionMode::On ? "on" : "both",
              specs[i].dataset_dir.string());
        }
        file = *found;
      }
      auto it = tables.find(file);
      if (it == tables.end()) it = tables.emplace(file, InstructionTable::load(file)).first;
      instructions[i] = it->second.lookup(specs[i].instruction_task, specs[i].instruction_subset_keys);
    }
  }

  std::unique_ptr<Retriever> retriever = make_retriever(retriever_config(options));

  EvalResult result;
  result.model_name = retriever->model_name();

  // Results already in --out must be this model's, with these settings, to be reused.
  std::map<fs::path, StoredResult> existing;
  if (!options.out.empty()) {
    for (auto& stored : read_all_task_results(options.out)) {
      const fs::path path = task_result_path(options.out, stored.result);
      const bool same = stored.metadata.model_name == retriever->model_name() &&
                        stored.metadata.model_revision == retriever->model_revision() &&
                        stored.metadata.cutoffs == set.cutoffs() &&
                        stored.metadata.retriever_settings == retriever->settings();
      if (!same) {
        if (!options.overwrite) {
          throw invalid_input(
              "--out {}: {} holds results of {} ({}, k={}); this run is {} ({}, k={}). Use another "
              "--out, or --overwrite to replace them",
              options.out.string(), path.string(), stored.metadata.model_name,
              stored.metadata.retriever_settings, fmt::join(stored.metadata.cutoffs, ","),
              retriever->model_name(), retriever->settings(), fmt::join(set.cutoffs(), ","));
        }
        std::error_code ec;
        fs::remove(path, ec);
        continue;
      }
      existing.emplace(path, std::move(stored));
    }
  }

  TaskLoader loader;
  const Corpus* indexed = nullptr;
  std::shared_ptr<const Corpus> indexed_owner;
  Progress overall("eval", specs.size() * settings.size(), "subsets");
  std::vector<SubsetResult> done;
  for (size_t i = 0; i < specs.size() && !result.interrupted; ++i) {
    const SubsetSpec& spec = specs[i];
    std::optional<LoadedSubset> data;
    for (const std::string& setting : settings) {
      if (stop_requested(options)) {
        result.interrupted = true;
        break;
      }
      SubsetResult key;
      key.memory_type = spec.memory_type;
      key.dataset = spec.dataset;
      key.subset = spec.subset;
      key.instructions = setting;
      fs::path run_path;
      if (!options.save_run.empty()) {
        run_path = options.save_run / setting / spec.memory_type / spec.dataset / spec.subset / "run.trec";
      }
      if (!options.out.empty() && !options.overwrite) {
        auto found = existing.find(task_result_path(options.out, key));
        if (found != existing.end() && (run_path.empty() || fs::exists(run_path))) {
          done.push_back(found->second.result);
          overall.advance();
          continue;
        }
      }
      if (!data) {
        data = loader.load(spec);
        for (const auto& w : data->warnings) warn(fmt::format("{}/{}: {}", spec.dataset, spec.subset, w));
        for (const auto& n : spec.notes) warn(fmt::format("{}/{}: {}", spec.dataset, spec.subset, n));
      }
      if (indexed != data->corpus.get()) {
        retriever->index(*data->corpus);
        if (stop_requested(options)) {
          result.interrupted = true;
          break;
        }
        indexed = data->corpus.get();
        indexed_owner = data->corpus;
      }
      SubsetOutcome outcome = evaluate_subset(spec, *data, setting, instructions[i], *retriever, set,
                                              options, run_path);
      if (!outcome.completed) {
        result.interrupted = true;
        break;
      }
      if (!options.out.empty()) {
        write_json_file(task_result_path(options.out, outcome.result),
                        make_task_result(outcome.result, outcome.metadata, outcome.stored));
      }
      done.push_back(outcome.result);
      overall.advance();
    }
  }
  overall.finish();

  ModelRun run{retriever->model_name(), retriever->model_revision(), done};
  if (!options.out.empty()) {
    // The reports cover every result in --out (this run's and earlier ones of the same model).
    ModelRun everything{retriever->model_name(), retriever->model_revision(), {}};
    for (auto& stored : read_all_task_results(options.out)) everything.subsets.push_back(std::move(stored.result));
    write_reports(options.out, {everything}, set, published);
  }
  result.subsets = std::move(done);
  result.summary = console_summary(run);
  return result;
}

void write_comparison_report(const ReportOptions& options) {
  if (options.results.empty()) throw invalid_input("eval report: no result directories given");
  const PublishedScores published = load_published_scores(options.published_scores);
  std::vector<ModelRun> runs;
  for (const fs::path& dir : options.results) {
    const auto stored = read_all_task_results(dir);
    if (stored.empty()) throw not_found("{}: no results/ written by memembed eval", dir.string());
    ModelRun run{stored.front().metadata.model_name, stored.front().metadata.model_revision, {}};
    for (const auto& s : stored) {
      if (s.metadata.model_name != run.model_name) {
        throw invalid_input("{}: mixes results of {} and {}", dir.string(), run.model_name,
                            s.metadata.model_name);
      }
      run.subsets.push_back(s.result);
    }
    runs.push_back(std::move(run));
  }
  if (!options.markdown.empty()) write_text_atomically(options.markdown, summary_markdown(runs, published));
  if (!options.html.empty()) write_text_atomically(options.html, report_html(runs, published));
  if (options.markdown.empty() && options.html.empty()) {
    throw invalid_input("eval report: give --html and/or --md");
  }
}

}  // namespace memembed::eval
