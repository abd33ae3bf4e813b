#include "task_loader.h"

#include "memembed/error.h"
#include "memembed/json_io.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace memembed::eval {

namespace fs = std::filesystem;

namespace {

fs::path normalized(const fs::path& path) { return fs::absolute(path).lexically_normal(); }

bool is_file(const fs::path& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

// The first `name` found in `start` or its ancestors up to and including `stop`.
std::optional<fs::path> nearest_file(const fs::path& start, const fs::path& stop,
                                     const std::string& name) {
  fs::path dir = start;
  while (true) {
    if (is_file(dir / name)) return dir / name;
    if (dir == stop || !dir.has_parent_path() || dir.parent_path() == dir) return std::nullopt;
    dir = dir.parent_path();
  }
}

// Python's "_".join(s.split("_")[:2]).
std::string two_part_prefix(const std::string& id) {
  const size_t first = id.find('_');
  if (first == std::string::npos) return id;
  const size_t second = id.find('_', first + 1);
  return second == std::string::npos ? id : id.substr(0, second);
}

// Ids may be strings or integers in JSON (LMEB's loaders str() query ids; corpus ids of either
// kind come out of the datasets library unchanged).
std::string read_id(const Json& object, const std::string& where) {
  if (!object.is_object()) throw invalid_input("{}: expected a JSON object", where);
  auto it = object.find("id");
  if (it == object.end()) it = object.find("_id");
  if (it == object.end()) throw invalid_input("{}: missing field \"id\"", where);
  if (it->is_string()) {
    std::string id = it->get<std::string>();
    if (id.empty()) throw invalid_input("{}: field \"id\" is empty", where);
    return id;
  }
  if (it->is_number_integer()) return it->dump();
  throw invalid_input("{}: field \"id\" must be a string or an integer, got {}", where,
                      it->type_name());
}

std::string optional_text(const Json& object, const char* field, const std::string& where) {
  auto value = optional_string(object, field, where);
  return value ? *value : std::string();
}

std::string format_where(const fs::path& path, size_t line) {
  return fmt::format("{}:{}", path.string(), line);
}

}  // namespace

std::vector<SubsetSpec> discover_subsets(const fs::path& root_in, const DiscoveryOptions& options) {
  const fs::path root = normalized(root_in);
  std::error_code ec;
  if (!fs::exists(root, ec)) throw not_found("--tasks: {}: no such file or directory", root.string());
  if (!fs::is_directory(root, ec)) throw invalid_input("--tasks: {}: not a directory", root.string());

  std::vector<fs::path> subset_dirs;
  if (is_file(root / "queries.jsonl")) subset_dirs.push_back(root);
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec) && is_file(it->path() / "queries.jsonl")) {
      subset_dirs.push_back(normalized(it->path()));
    }
  }
  if (ec) throw io_error("--tasks: {}: cannot list: {}", root.string(), ec.message());
  if (subset_dirs.empty()) {
    throw not_found(
        "--tasks: {}: no queries.jsonl found (expected an LMEB tree <MemoryType>/<Dataset>/..., a "
        "dataset or subset folder, or a BEIR folder)",
        root.string());
  }
  std::sort(subset_dirs.begin(), subset_dirs.end());

  std::vector<SubsetSpec> specs;
  for (const fs::path& subset_dir : subset_dirs) {
    SubsetSpec spec;
    spec.subset_dir = subset_dir;

    // Memory type and dataset folder: the folder after the last memory-type component.
    std::vector<fs::path> parts(subset_dir.begin(), subset_dir.end());
    std::optional<size_t> type_index;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      if (!canonical_memory_type(parts[i].string()).empty()) type_index = i;
    }
    const bool beir = !is_file(subset_dir / "qrels.tsv") &&
                      is_file(subset_dir / "qrels" / (options.split + ".tsv"));
    if (type_index) {
      fs::path dataset_dir;
      for (size_t i = 0; i <= *type_index + 1; ++i) dataset_dir /= parts[i];
      spec.dataset_dir = dataset_dir;
      spec.memory_type = canonical_memory_type(parts[*type_index].string());
    } else if (beir || subset_dir == root) {
      spec.dataset_dir = subset_dir;
    } else {
      spec.dataset_dir = root;
    }
    const std::string folder = spec.dataset_dir.filename().string();
    const DatasetLayout* layout = find_layout(folder);
    if (spec.memory_type.empty()) spec.memory_type = layout ? layout->memory_type : "Other";
    if (!options.memory_type.empty()) spec.memory_type = options.memory_type;
    spec.dataset = layout ? layout->task_name : folder;

    const fs::path relative = subset_dir.lexically_relative(spec.dataset_dir);
    if (relative.empty() || relative == ".") {
      spec.subset = layout && layout->single_subset ? layout->single_subset
                                                   : (beir ? std::string("default") : folder);
    } else {
      spec.subset = relative.generic_string();
    }

    spec.queries = subset_dir / "queries.jsonl";
    if (is_file(subset_dir / "qrels.tsv")) {
      spec.qrels = subset_dir / "qrels.tsv";
    } else if (is_file(subset_dir / "qrels" / (options.split + ".tsv"))) {
      spec.qrels = subset_dir / "qrels" / (options.split + ".tsv");
    } else {
      throw not_found("{}: no qrels (tried {} and {})", subset_dir.string(),
                      (subset_dir / "qrels.tsv").string(),
                      (subset_dir / "qrels" / (options.split + ".tsv")).string());
    }

    // Corpus: LMEB's declared place for known datasets, else the nearest corpus.jsonl upwards.
    std::optional<fs::path> corpus;
    if (layout) {
      const fs::path declared = layout->corpus == CorpusPlace::Dataset ? spec.dataset_dir / "corpus.jsonl"
                                : layout->corpus == CorpusPlace::SubsetParent
                                    ? subset_dir.parent_path() / "corpus.jsonl"
                                    : subset_dir / "corpus.jsonl";
      if (is_file(declared)) {
        corpus = declared;
      } else {
        corpus = nearest_file(subset_dir, spec.dataset_dir, "corpus.jsonl");
        if (corpus) {
          spec.notes.push_back(fmt::format("LMEB reads {}'s corpus from {}; it is absent, using {}",
                                           spec.dataset, declared.string(), corpus->string()));
        }
      }
    } else {
      corpus = nearest_file(subset_dir, spec.dataset_dir, "corpus.jsonl");
    }
    if (!corpus) {
      throw not_found("{}: no corpus.jsonl in the subset folder or above it up to {}",
                      subset_dir.string(), spec.dataset_dir.string());
    }
    spec.corpus = *corpus;

    // Candidates: only where LMEB's task declares them; unknown datasets use a file when present.
    if (layout) {
      spec.scene_rule = layout->scene;
      if (layout->candidates != CandidatesPlace::None) {
        const fs::path declared = layout->candidates == CandidatesPlace::Dataset
                                      ? spec.dataset_dir / "candidates.jsonl"
                                      : subset_dir / "candidates.jsonl";
        if (is_file(declared)) {
          spec.candidates = declared;
        } else {
          spec.notes.push_back(fmt::format(
              "{} declares a candidates file but {} is absent: ranking against the whole corpus",
              spec.dataset, declared.string()));
        }
      } else if (auto stray = nearest_file(subset_dir, spec.dataset_dir, "candidates.jsonl")) {
        spec.notes.push_back(fmt::format("{} is ignored: LMEB's {} task uses no candidates",
                                         stray->string(), spec.dataset));
      }
    } else {
      spec.scene_rule = SceneRule::Auto;
      if (auto found = nearest_file(subset_dir, spec.dataset_dir, "candidates.jsonl")) {
        spec.candidates = *found;
      }
    }

    spec.instruction_task = spec.dataset;
    const std::string last = subset_dir.filename().string();
    if (layout && layout->instruction_key == InstructionKey::Fixed) {
      spec.instruction_subset_keys = {layout->fixed_key};
    } else if (layout && layout->instruction_key == InstructionKey::LastComponent) {
      spec.instruction_subset_keys = {last};
    } else if (layout) {
      spec.instruction_subset_keys = {spec.subset};
    } else {
      spec.instruction_subset_keys = {spec.subset};
      if (last != spec.subset) spec.instruction_subset_keys.push_back(last);
    }
    specs.push_back(std::move(spec));
  }
  return specs;
}

std::shared_ptr<const Corpus> load_corpus(const fs::path& path) {
  auto corpus = std::make_shared<Corpus>();
  corpus->path = path;
  for_each_jsonl(path, [&](const Json& row, size_t line) {
    const std::string where = format_where(path, line);
    std::string id = read_id(row, where);
    // LMEB: (title or "") + " " + (text or ""); MTEB strips what it embeds.
    std::string text = strip_unicode_whitespace(optional_text(row, "title", where) + " " +
                                                optional_text(row, "text", where));
    auto [it, inserted] = corpus->index.try_emplace(id, static_cast<uint32_t>(corpus->ids.size()));
    if (inserted) {
      corpus->ids.push_back(std::move(id));
      corpus->texts.push_back(std::move(text));
    } else {
      ++corpus->duplicates;
      corpus->texts[it->second] = std::move(text);
    }
  });
  if (corpus->ids.empty()) throw invalid_input("{}: the corpus has no documents", path.string());
  return corpus;
}

Queries load_queries(const fs::path& path) {
  Queries queries;
  std::unordered_map<std::string, size_t> seen;
  for_each_jsonl(path, [&](const Json& row, size_t line) {
    const std::string where = format_where(path, line);
    std::string id = read_id(row, where);
    std::string text = require_string(row, "text", where);
    auto [it, inserted] = seen.try_emplace(id, queries.ids.size());
    if (inserted) {
      queries.ids.push_back(std::move(id));
      queries.texts.push_back(std::move(text));
    } else {
      ++queries.duplicates;
      queries.texts[it->second] = std::move(text);
    }
  });
  return queries;
}

Candidates load_candidates(const fs::path& path, const Corpus& corpus) {
  Candidates candidates;
  for_each_jsonl(path, [&](const Json& row, size_t line) {
    const std::string where = format_where(path, line);
    if (!row.is_object()) throw invalid_input("{}: expected a JSON object", where);
    auto scene = row.find("scene_id");
    if (scene == row.end()) throw invalid_input("{}: missing field \"scene_id\"", where);
    std::string scene_id;
    if (scene->is_string()) scene_id = scene->get<std::string>();
    else if (scene->is_number_integer()) scene_id = scene->dump();
    else throw invalid_input("{}: field \"scene_id\" must be a string, got {}", where, scene->type_name());
    auto docs = row.find("candidate_doc_ids");
    if (docs == row.end()) throw invalid_input("{}: missing field \"candidate_doc_ids\"", where);
    if (!docs->is_array()) {
      throw invalid_input("{}: field \"candidate_doc_ids\" must be an array, got {}", where,
                          docs->type_name());
    }
    std::vector<uint32_t> indices;
    std::set<uint32_t> unique;
    for (size_t i = 0; i < docs->size(); ++i) {
      const Json& doc = (*docs)[i];
      std::string doc_id;
      if (doc.is_string()) doc_id = doc.get<std::string>();
      else if (doc.is_number_integer()) doc_id = doc.dump();
      else {
        throw invalid_input("{}: candidate_doc_ids[{}] must be a string, got {}", where, i,
                            doc.type_name());
      }
      auto found = corpus.index.find(doc_id);
      if (found == corpus.index.end()) {
        ++candidates.unknown_docs;
        continue;
      }
      if (unique.insert(found->second).second) indices.push_back(found->second);
    }
    candidates.scenes[scene_id] = std::move(indices);  // a repeated scene keeps its last line
  });
  return candidates;
}

const std::vector<uint32_t>* find_scene(const Candidates& candidates, const std::string& query_id,
                                        SceneRule rule) {
  if (rule != SceneRule::Prefix) {
    auto it = candidates.scenes.find(query_id);
    if (it != candidates.scenes.end()) return &it->second;
    if (rule == SceneRule::Exact) return nullptr;
  }
  auto it = candidates.scenes.find(two_part_prefix(query_id));
  return it == candidates.scenes.end() ? nullptr : &it->second;
}

InstructionTable InstructionTable::load(const fs::path& path) {
  const Json json = read_json_file(path);
  InstructionTable table;
  table.path_ = path;
  if (!json.is_object()) throw invalid_input("{}: expected an object of tasks", path.string());
  for (const auto& [task, subsets] : json.items()) {
    if (!subsets.is_object()) {
      throw invalid_input("{}: \"{}\" must be an object of subset instructions", path.string(), task);
    }
    for (const auto& [subset, instruction] : subsets.items()) {
      if (!instruction.is_string()) {
        throw invalid_input("{}: \"{}\".\"{}\" must be a string, got {}", path.string(), task,
                            subset, instruction.type_name());
      }
      table.table_[task][subset] = instruction.get<std::string>();
    }
  }
  return table;
}

std::optional<fs::path> InstructionTable::find_near(const fs::path& dir) {
  return nearest_file(normalized(dir), normalized(dir).root_path(), "task_instructions.json");
}

std::string InstructionTable::lookup(const std::string& task,
                                     const std::vector<std::string>& subset_keys) const {
  auto found = table_.find(task);
  if (found == table_.end()) {
    throw invalid_input("{}: no instructions for task \"{}\"", path_.string(), task);
  }
  for (const auto& key : subset_keys) {
    auto it = found->second.find(key);
    if (it != found->second.end()) return it->second;
  }
  throw invalid_input("{}: task \"{}\" has no instruction for subset key {}", path_.string(), task,
                      fmt::format("\"{}\"", fmt::join(subset_keys, "\" or \"")));
}

std::string apply_instruction(const std::string& instruction, const std::string& query) {
  if (strip_unicode_whitespace(instruction).empty()) return query;
  return "Instruct: " + instruction + "\nQuery:" + query;
}

LoadedSubset TaskLoader::load(const SubsetSpec& spec) {
  LoadedSubset loaded;
  auto& corpus = corpora_[spec.corpus];
  if (!corpus) {
    corpus = load_corpus(spec.corpus);
    if (corpus->duplicates > 0) {
      loaded.warnings.push_back(fmt::format("{}: {} documents repeat an earlier id (last kept)",
                                            spec.corpus.string(), corpus->duplicates));
    }
  }
  loaded.corpus = corpus;

  Queries all = load_queries(spec.queries);
  if (all.duplicates > 0) {
    loaded.warnings.push_back(fmt::format("{}: {} queries repeat an earlier id (last kept)",
                                          spec.queries.string(), all.duplicates));
  }
  const Qrels qrels = Qrels::read(spec.qrels);
  if (qrels.duplicates() > 0) {
    loaded.warnings.push_back(fmt::format("{}: {} lines repeat a (query, doc) pair (last kept)",
                                          spec.qrels.string(), qrels.duplicates()));
  }

  if (!spec.candidates.empty()) {
    auto& table = candidates_[spec.candidates];
    if (!table) {
      auto read = std::make_shared<Candidates>(load_candidates(spec.candidates, *corpus));
      if (read->unknown_docs > 0) {
        loaded.warnings.push_back(fmt::format("{}: {} candidate doc ids are not in {}",
                                              spec.candidates.string(), read->unknown_docs,
                                              spec.corpus.string()));
      }
      table = std::move(read);
    }
    loaded.candidate_table = table;
  }

  // Which queries are evaluated: those in queries.jsonl that have qrels (pytrec_eval skips the
  // rest; LMEB data has none).
  std::set<std::string> query_set(all.ids.begin(), all.ids.end());
  size_t without_qrels = 0;
  size_t unknown_docs = 0;
  size_t without_scene = 0;
  for (size_t q = 0; q < all.ids.size(); ++q) {
    const std::vector<Judgment>* judged = qrels.find(all.ids[q]);
    if (judged == nullptr) {
      ++without_qrels;
      continue;
    }
    std::vector<int64_t> relevances;
    std::vector<std::pair<uint32_t, int64_t>> in_corpus;
    for (const Judgment& j : *judged) {
      relevances.push_back(j.relevance);
      loaded.qrels.add(all.ids[q], j.doc_id, j.relevance);
      auto found = corpus->index.find(j.doc_id);
      if (found == corpus->index.end()) {
        ++unknown_docs;
      } else {
        in_corpus.emplace_back(found->second, j.relevance);
      }
    }
    const std::vector<uint32_t>* scene = nullptr;
    if (loaded.candidate_table) {
      scene = find_scene(*loaded.candidate_table, all.ids[q], spec.scene_rule);
      if (scene == nullptr) ++without_scene;
    }
    loaded.queries.ids.push_back(all.ids[q]);
    loaded.queries.texts.push_back(all.texts[q]);
    loaded.judgments.push_back(make_judgments(relevances));
    loaded.judged_docs.push_back(std::move(in_corpus));
    loaded.candidates.push_back(scene);
  }
  loaded.qrels.finalize();
  size_t unknown_queries = 0;
  for (const auto& id : qrels.query_ids()) unknown_queries += query_set.count(id) ? 0 : 1;

  if (without_qrels > 0) {
    loaded.warnings.push_back(fmt::format("{}: {} queries have no qrels and are not evaluated",
                                          spec.queries.string(), without_qrels));
  }
  if (unknown_queries > 0) {
    loaded.warnings.push_back(fmt::format("{}: {} qrels queries are not in {} (ignored)",
                                          spec.qrels.string(), unknown_queries,
                                          spec.queries.string()));
  }
  if (unknown_docs > 0) {
    loaded.warnings.push_back(fmt::format(
        "{}: {} judgments name documents that are not in {} (they still count as relevant, so "
        "recall cannot reach 1)",
        spec.qrels.string(), unknown_docs, spec.corpus.string()));
  }
  if (without_scene > 0) {
    loaded.warnings.push_back(fmt::format(
        "{}: {} queries match no scene in {} and are ranked against the whole corpus",
        spec.queries.string(), without_scene, spec.candidates.string()));
  }
  if (loaded.queries.ids.empty()) {
    throw invalid_input("{}: none of the {} queries has qrels in {}", spec.queries.string(),
                        all.ids.size(), spec.qrels.string());
  }
  return loaded;
}

}  // namespace memembed::eval
