// `memembed memory`: the memory store from the command line (docs/memory.md). Every subcommand
// takes --data DIR (the embedded store) or --database URL (PostgreSQL) and prints JSON on stdout.
#include "commands.h"
#include "memembed/error.h"
#include "memembed/memory.h"
#include "memembed/model.h"
#include "memembed/postgres.h"
#include "memembed/progress.h"
#include "memembed/select.h"

#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

namespace memembed::cli {

namespace {

using namespace memembed::memory;

std::atomic<bool> g_stop{false};

extern "C" void on_memory_interrupt(int) {
  g_stop.store(true);  // finish the current batch, keep what is done; a second Ctrl-C kills
  std::signal(SIGINT, SIG_DFL);
}

// Options every subcommand shares.
struct StoreArgs {
  std::string data;
  std::string database;
  std::string config;
  std::string model;
  int threads = 0;
  std::optional<double> fusion_weight;
  std::string fusion = "zscore";
  bool mmr = false;
  double mmr_lambda = 0.7;
  double relevance_weight = 0.7, recency_weight = 0.3, decay = 0.01;
};

void add_store_options(CLI::App* command, StoreArgs& args, bool ranking) {
  command->add_option("--data", args.data, "the store's data directory (created when missing)");
  command->add_option("--database", args.database,
                      "instead of --data: a PostgreSQL store, postgresql://user@host:port/db (pgvector installed)");
  command->add_option("--config", args.config, "embedder config (written by `memembed recommend --write-config`)");
  command->add_option("--model", args.model, "embedding model directory or ORG/NAME (instead of --config)");
  command->add_option("--threads", args.threads, "model threads (0 = all cores)");
  if (!ranking) return;
  command->add_option("--fusion-weight", args.fusion_weight,
                      "dense share of the BM25 + dense fusion, 0..1 (default: the calibrated weight, else 0.3)");
  command->add_option("--fusion", args.fusion, "zscore | minmax | rrf")->capture_default_str();
  command->add_flag("--mmr", args.mmr, "diversify results (maximal marginal relevance)");
  command->add_option("--mmr-lambda", args.mmr_lambda, "MMR trade-off, 1 = relevance only")->capture_default_str();
  command->add_option("--relevance-weight", args.relevance_weight, "weight of relevance in the ranking")
      ->capture_default_str();
  command->add_option("--recency-weight", args.recency_weight, "weight of recency in the ranking")->capture_default_str();
  command->add_option("--decay", args.decay, "recency decay per hour: exp(-decay * age_hours)")->capture_default_str();
}

// The config's fusion weight, when --fusion-weight does not override it.
std::optional<double> config_fusion_weight(const StoreArgs& args) {
  if (args.config.empty()) return std::nullopt;
  return select::load_embedder_config(args.config).fusion_weight;
}

std::shared_ptr<const Embedder> load_embedder(const StoreArgs& args) {
  if (!args.config.empty() && !args.model.empty()) throw invalid_input("give --config or --model, not both");
  embed::EncoderOptions encoder;
  model::configure_compute({args.threads});
  if (!args.model.empty()) return load_model_embedder(args.model, encoder);
  if (args.config.empty()) return nullptr;
  std::vector<std::string> warnings;
  const select::EmbedderConfig config = select::load_embedder_config(args.config);
  auto embedder = load_config_embedder(config, encoder, warnings);
  for (const auto& w : warnings) std::fprintf(stderr, "memembed memory: warning: %s\n", w.c_str());
  return embedder;
}

std::unique_ptr<MemoryStore> open_store(const StoreArgs& args, bool maintenance = false,
                                        std::shared_ptr<const Embedder> embedder = nullptr) {
  StoreOptions options;
  options.embedder = maintenance ? embedder : load_embedder(args);
  options.allow_model_mismatch = maintenance;
  if (args.data.empty() == args.database.empty()) {
    throw invalid_input("give exactly one of --data DIR (embedded SQLite store) or --database postgresql://...");
  }
  options.data_label = args.data;
  options.ranking.fusion = retrieval::parse_fusion(args.fusion);
  options.ranking.fusion_weight = args.fusion_weight ? args.fusion_weight : config_fusion_weight(args);
  options.ranking.mmr = args.mmr;
  options.ranking.mmr_lambda = args.mmr_lambda;
  options.ranking.relevance_weight = args.relevance_weight;
  options.ranking.recency_weight = args.recency_weight;
  options.ranking.decay_per_hour = args.decay;
  return std::make_unique<MemoryStore>(
      args.database.empty() ? open_sqlite_backend(args.data) : postgres::open_postgres_backend(args.database), options);
}

void print(const Json& json) { std::cout << json.dump(2) << std::endl; }

Json entries_json(const std::vector<MemoryEntry>& entries) {
  Json out = Json::array();
  for (const MemoryEntry& e : entries) {
    Json j = to_json(e);
    j["relevance_score"] = e.relevance_score;
    out.push_back(j);
  }
  return out;
}

Json model_json(const ModelIdentity& m) { return {{"name", m.name}, {"fingerprint", m.fingerprint}, {"dims", m.dims}}; }

// --since/--until/--expires-at accept RFC 3339 or a relative "+2h"/"-30m"/"7d" from now.
Timestamp parse_time_option(const std::string& text, const char* option) {
  if (!text.empty() && (text[0] == '+' || text[0] == '-')) {
    const char unit = text.back();
    const int64_t per = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : unit == 'd' ? 86400 : 0;
    try {
      size_t used = 0;
      const int64_t amount = std::stoll(text.substr(1, text.size() - 2), &used);
      if (per != 0 && used == text.size() - 2) {
        return now_micros() + (text[0] == '-' ? -1 : 1) * amount * per * 1000000;
      }
    } catch (const std::exception&) {
    }
    throw invalid_input("{} '{}': expected RFC 3339 or +/-N with s, m, h or d", option, text);
  }
  return parse_timestamp(text, option);
}

std::vector<Category> parse_categories(const std::vector<std::string>& names) {
  std::vector<Category> out;
  for (const auto& n : names) out.push_back(parse_category(n, "--category"));
  return out;
}

}  // namespace

void add_memory_command(CLI::App& app) {
  auto* memory = app.add_subcommand("memory", "Store and search agent memories (embedded SQLite store, or PostgreSQL with --database)");
  memory->require_subcommand(1);

  // add
  {
    struct Args : StoreArgs {
      std::string agent, content, category = "EPISODIC", ns = "default", source, expires;
      double confidence = 1.0;
      std::vector<std::string> tags;
    };
    auto a = std::make_shared<Args>();
    auto* c = memory->add_subcommand("add", "Store a memory; prints its id");
    add_store_options(c, *a, false);
    c->add_option("--agent", a->agent, "the agent the memory belongs to")->required();
    c->add_option("--content", a->content, "the memory text ('-' reads stdin)")->required();
    c->add_option("--category", a->category, "EPISODIC | PROCEDURAL | SEMANTIC | SOCIAL")->capture_default_str();
    c->add_option("--namespace", a->ns, "namespace")->capture_default_str();
    c->add_option("--source", a->source, "metadata.source");
    c->add_option("--confidence", a->confidence, "metadata.confidence, 0..1")->capture_default_str();
    c->add_option("--tag", a->tags, "metadata tag (repeatable)");
    c->add_option("--expires-at", a->expires, "expiry: RFC 3339 or +N[s|m|h|d] from now");
    c->callback([a] {
      StoreRequest r;
      r.category = parse_category(a->category, "--category");
      r.namespace_ = a->ns;
      if (a->content == "-") {
        r.content.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
      } else {
        r.content = a->content;
      }
      r.metadata = {a->source, a->confidence, a->tags};
      if (!a->expires.empty()) r.expires_at = parse_time_option(a->expires, "--expires-at");
      auto store = open_store(*a);
      print({{"id", store->store(a->agent, r)}});
    });
  }

  // search
  {
    struct Args : StoreArgs {
      std::string agent, query, since, until, exclude_agent;
      std::vector<std::string> namespaces, categories, tags;
      double min_relevance = 0.0;
      size_t limit = 10;
      bool shared = false;
    };
    auto a = std::make_shared<Args>();
    auto* c = memory->add_subcommand("search", "Retrieve an agent's memories (text query and/or filters)");
    add_store_options(c, *a, true);
    c->add_option("--agent", a->agent, "whose memories (not with --shared)");
    c->add_option("--query", a->query, "query text; none = newest first by the filters alone");
    c->add_option("--namespace", a->namespaces, "namespace (repeatable: any of)");
    c->add_option("--category", a->categories, "category (repeatable: any of)");
    c->add_option("--tag", a->tags, "tag (repeatable: all must match)");
    c->add_option("--since", a->since, "created at or after: RFC 3339 or -N[s|m|h|d]");
    c->add_option("--until", a->until, "created before: RFC 3339 or -N[s|m|h|d]");
    c->add_option("--min-relevance", a->min_relevance, "minimum final score, 0..1")->capture_default_str();
    c->add_option("--limit", a->limit, "results, 1..1000")->capture_default_str();
    c->add_flag("--shared", a->shared, "search shared knowledge (published memories of all agents)");
    c->add_option("--exclude-agent", a->exclude_agent, "with --shared: leave out this agent's memories");
    c->callback([a] {
      Query q;
      if (!a->query.empty()) q.text = a->query;
      q.namespaces = a->namespaces;
      q.categories = parse_categories(a->categories);
      q.tags = a->tags;
      if (!a->since.empty()) q.since = parse_time_option(a->since, "--since");
      if (!a->until.empty()) q.until = parse_time_option(a->until, "--until");
      q.min_relevance = a->min_relevance;
      q.limit = a->limit;
      auto store = open_store(*a);
      if (a->shared) {
        print(entries_json(store->search_shared(
            q, a->exclude_agent.empty() ? std::nullopt : std::optional<std::string>(a->exclude_agent))));
      } else {
        if (a->agent.empty()) throw invalid_input("search: --agent is required (or --shared)");
        print(entries_json(store->retrieve(a->agent, q)));
      }
    });
  }

  // get, delete, publish, retract: one memory by id
  auto by_id = [&](const char* name, const char* help, auto action) {
    struct Args : StoreArgs {
      std::string agent, id;
    };
    auto a = std::make_shared<Args>();
    auto* c = memory->add_subcommand(name, help);
    add_store_options(c, *a, false);
    c->add_option("--agent", a->agent, "the owning agent")->required();
    c->add_option("--id", a->id, "memory id")->required();
    c->callback([a, action] {
      auto store = open_store(*a);
      print(action(*store, a->agent, a->id));
    });
  };
  by_id("get", "Print one memory", [](MemoryStore& s, const std::string& agent, const std::string& id) {
    return to_json(s.get(agent, id));
  });
  by_id("delete", "Delete one memory", [](MemoryStore& s, const std::string& agent, const std::string& id) {
    s.remove(agent, id);
    return Json{{"deleted", id}};
  });
  by_id("publish", "Share one memory with every agent (search --shared)",
        [](MemoryStore& s, const std::string& agent, const std::string& id) {
          s.publish(agent, id);
          return Json{{"published", id}};
        });
  by_id("retract", "Stop sharing one memory", [](MemoryStore& s, const std::string& agent, const std::string& id) {
    s.retract(agent, id);
    return Json{{"retracted", id}};
  });

  // update
  {
    struct Args : StoreArgs {
      std::string agent, id, content, source, expires;
      std::optional<double> confidence;
      std::vector<std::string> tags;
      bool clear_tags = false, no_expiry = false;
    };
    auto a = std::make_shared<Args>();
    auto* c = memory->add_subcommand("update", "Change a memory's content, metadata or expiry");
    add_store_options(c, *a, false);
    c->add_option("--agent", a->agent, "the owning agent")->required();
    c->add_option("--id", a->id, "memory id")->required();
    c->add_option("--content", a->content, "new content (re-embedded)");
    c->add_option("--source", a->source, "new metadata.source");
    c->add_option("--confidence", a->confidence, "new metadata.confidence");
    c->add_option("--tag", a->tags, "replace the tags (repeatable)");
    c->add_flag("--clear-tags", a->clear_tags, "remove every tag");
    c->add_option("--expires-at", a->expires, "new expiry: RFC 3339 or +N[s|m|h|d]");
    c->add_flag("--no-expiry", a->no_expiry, "make the memory permanent");
    c->callback([a, c] {
      auto store = open_store(*a);
      UpdateRequest u;
      if (c->count("--content")) u.content = a->content;
      if (c->count("--source") || a->confidence || !a->tags.empty() || a->clear_tags) {
        Metadata m = store->get(a->agent, a->id).metadata;
        if (c->count("--source")) m.source = a->source;
        if (a->confidence) m.confidence = *a->confidence;
        if (!a->tags.empty() || a->clear_tags) m.tags = a->tags;
        u.metadata = m;
      }
      if (!a->expires.empty()) u.expires_at = parse_time_option(a->expires, "--expires-at");
      u.clear_expiry = a->no_expiry;
      print(to_json(store->update(a->agent, a->id, u)));
    });
  }

  // count
  {
    struct Args : StoreArgs {
      std::string agent, category;
    };
    auto a = std::make_shared<Args>();
    auto* c = memory->add_subcommand("count", "Count an agent's memories (expired ones excluded)");
    add_store_options(c, *a, false);
    c->add_option("--agent", a->agent, "the agent")->required();
    c->add_option("--category", a->category, "only this category");
    c->callback([a] {
      auto store = open_store(*a, true);
      std::optional<Category> category;
      if (!a->category.empty()) category = parse_category(a->category, "--category");
      print({{"agent_id", a->agent}, {"count", store->count(a->agent, category)}});
    });
  }

  // export / import
  {
    struct Args : StoreArgs {
      std::string output = "-";
      bool vectors = false;
    };
    auto a = std::make_shared<Args>();
    auto* c = memory->add_subcommand("export", "Write every memory as JSONL (backup, migration)");
    add_store_options(c, *a, false);
    c->add_option("--output", a->output, "file ('-' = stdout)")->capture_default_str();
    c->add_flag("--vectors", a->vectors, "include each memory's vector of the active model");
    c->callback([a] {
      auto store = open_store(*a, true);
      if (a->output == "-") {
        store->export_jsonl(std::cout, a->vectors);
        return;
      }
      std::ofstream out = open_for_write(a->output);
      store->export_jsonl(out, a->vectors);
      std::fprintf(stderr, "memembed memory: exported to %s\n", a->output.c_str());
    });
  }
  {
    struct Args : StoreArgs {
      std::string input;
    };
    auto a = std::make_shared<Args>();
    auto* c = memory->add_subcommand(
        "import", "Read memories from JSONL (an export); ids and times are kept, an existing id is replaced");
    add_store_options(c, *a, false);
    c->add_option("--input", a->input, "JSONL file ('-' = stdin)")->required();
    c->callback([a] {
      auto store = open_store(*a);
      size_t n = 0;
      if (a->input == "-") {
        n = store->import_jsonl(std::cin, "stdin");
      } else {
        std::ifstream in = open_for_read(a->input);
        n = store->import_jsonl(in, a->input);
      }
      print({{"imported", n}});
    });
  }

  // status
  {
    auto a = std::make_shared<StoreArgs>();
    auto* c = memory->add_subcommand("status", "The store: memories, vector sets and their models, fusion");
    add_store_options(c, *a, false);
    c->callback([a] {
      auto store = open_store(*a, true, load_embedder(*a));
      const StoreStatus s = store->status();
      Json sets = Json::array();
      for (const VectorSet& v : s.vector_sets) {
        sets.push_back({{"id", v.id}, {"model", model_json(v.model)}, {"state", to_string(v.state)},
                        {"vectors", v.vectors}, {"created_at", format_timestamp(v.created_at)}});
      }
      print({{"backend", s.backend},
             {"memories", s.memories},
             {"vector_sets", sets},
             {"serving_model", s.serving_model ? model_json(*s.serving_model) : Json(nullptr)},
             {"fusion", s.fusion},
             {"fusion_weight", s.fusion_weight}});
    });
  }

  // calibrate
  {
    auto a = std::make_shared<StoreArgs>();
    auto* c = memory->add_subcommand(
        "calibrate", "Choose the BM25 + dense fusion weight on the store's own memories; keep it in the store (and in --config)");
    add_store_options(c, *a, false);
    c->callback([a] {
      auto store = open_store(*a);
      const retrieval::FusionTuning t = store->calibrate_fusion();
      if (!a->config.empty()) {  // the embedder config carries the weight
        select::EmbedderConfig config = select::load_embedder_config(a->config);
        config.fusion_weight = t.weight;
        select::save_embedder_config(a->config, config);
      }
      print({{"fusion_weight", t.weight}, {"best_weight", t.best_weight}, {"queries", t.queries}, {"reason", t.reason}});
    });
  }

  // reindex
  {
    struct Args : StoreArgs {
      size_t batch = 256;
      bool prune = false;
    };
    auto a = std::make_shared<Args>();
    auto* c = memory->add_subcommand(
        "reindex",
        "Re-embed every memory with --model/--config into a new vector set and switch to it atomically "
        "(resumable; the old set is kept until --prune)");
    add_store_options(c, *a, false);
    c->add_option("--batch", a->batch, "memories per batch")->capture_default_str();
    c->add_flag("--prune", a->prune, "after the switch, delete every other vector set");
    c->callback([a] {
      auto target = load_embedder(*a);
      if (!target) throw invalid_input("reindex: give the new model with --model or --config");
      auto store = open_store(*a, true);
      ReindexOptions options;
      options.batch = a->batch;
      options.prune = a->prune;
      g_stop.store(false);
      options.stop = &g_stop;
      std::unique_ptr<Progress> progress;
      size_t shown = 0;
      options.on_progress = [&](size_t done, size_t total) {
        if (!progress) {  // the first call: what earlier runs already embedded is not this run's rate
          progress = std::make_unique<Progress>("reindex " + target->identity().name, total - done, "memories");
          shown = done;
        }
        progress->advance(done - shown);
        shown = done;
      };
      auto previous = std::signal(SIGINT, on_memory_interrupt);
      ReindexResult r;
      try {
        r = store->reindex(target, options);
      } catch (...) {
        std::signal(SIGINT, previous);
        throw;
      }
      std::signal(SIGINT, previous);
      if (progress) progress->finish();
      print({{"vector_set", r.set_id},
             {"model", model_json(target->identity())},
             {"embedded", r.embedded},
             {"memories", r.total},
             {"switched", r.switched},
             {"interrupted", r.interrupted},
             {"pruned_sets", r.pruned_sets}});
      if (r.interrupted) {
        std::fprintf(stderr, "memembed memory: reindex interrupted; rerun the same command to resume\n");
        std::exit(130);
      }
    });
  }
}

}  // namespace memembed::cli
