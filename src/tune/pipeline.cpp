// `memembed tune run`: the stages in one run directory, resumable (tune.h, run_pipeline).
#include "memembed/error.h"
#include "memembed/tune.h"

namespace memembed::tune {

namespace {

constexpr const char* kStages[] = {"generating_data", "mining_negatives", "training", "evaluating", "deploying"};

std::string normal(const fs::path& path) { return fs::weakly_canonical(fs::absolute(path)).string(); }

bool is_within(const fs::path& inner, const fs::path& outer) {
  const std::string a = normal(inner), b = normal(outer);
  return a == b || (a.size() > b.size() && a.compare(0, b.size(), b) == 0 && a[b.size()] == '/');
}

Json settings_of(const RunOptions& options) {
  Json docs = Json::array();
  for (const fs::path& path : options.docs) docs.push_back(normal(path));
  return {{"docs", docs},
          {"base_model", normal(options.base_model)},
          {"epochs", options.epochs ? Json(*options.epochs) : Json(nullptr)},
          {"max_steps", options.max_steps},
          {"batch_size", options.batch_size},
          {"mini_batch", options.mini_batch},
          {"negatives", options.negatives},
          {"held_out_fraction", options.held_out_fraction},
          {"seed", options.seed},
          {"learning_rate", options.learning_rate ? Json(*options.learning_rate) : Json(nullptr)},
          {"temperature", options.temperature ? Json(*options.temperature) : Json(nullptr)},
          {"generator", to_string(options.generator)},
          {"llm_url", options.llm ? Json(options.llm->url) : Json(nullptr)},
          {"llm_model", options.llm ? Json(options.llm->model) : Json(nullptr)}};
}

void validate(const RunOptions& options) {
  if (options.run_dir.empty()) throw invalid_input("--out RUN_DIR is required");
  if (!fs::is_directory(options.base_model)) throw not_found("{}: base model directory does not exist", options.base_model.string());
  if (is_within(options.run_dir, options.base_model) || is_within(options.base_model, options.run_dir)) {
    throw invalid_input("RUN_DIR {} and the base model {} must not contain one another", options.run_dir.string(),
                        options.base_model.string());
  }
  for (const fs::path& docs : options.docs) {
    if (is_within(options.run_dir, docs) || is_within(docs, options.run_dir)) {
      throw invalid_input("RUN_DIR {} and the documents {} must not contain one another", options.run_dir.string(),
                          docs.string());
    }
  }
}

Json read_if_exists(const fs::path& path) { return fs::exists(path) ? read_json_file(path) : Json(nullptr); }

}  // namespace

Json run_pipeline(const RunOptions& options) {
  validate(options);
  const fs::path run = options.run_dir;
  fs::create_directories(run);
  const fs::path state_path = run / "state.json";
  const Json settings = settings_of(options);
  Json state = {{"stage", kStages[0]}, {"completed", Json::array()}, {"settings", settings}};
  if (fs::exists(state_path)) {
    state = read_json_file(state_path);
    if (state.value("settings", Json()) != settings) {
      throw invalid_input("{}: this run directory holds a run with other settings ({}); use a new --out or the same "
                          "settings",
                          state_path.string(), state.value("settings", Json()).dump());
    }
  }
  auto done = [&](const char* stage) {
    for (const auto& name : state["completed"]) {
      if (name == stage) return true;
    }
    return false;
  };
  auto enter = [&](const char* stage) {
    state["stage"] = stage;
    state.erase("error");
    write_json_file(state_path, state);
    std::fprintf(stderr, "memembed tune: %s\n", stage);
  };
  auto complete = [&](const char* stage) {
    state["completed"].push_back(stage);
    write_json_file(state_path, state);
  };

  const fs::path data = run / "data", eval_dir = run / "eval", model = run / "model";
  bool interrupted = false;
  try {
    if (!done("generating_data")) {
      enter("generating_data");
      GenerateOptions generate;
      generate.docs = options.docs;
      generate.data_dir = data;
      generate.eval_dir = eval_dir;
      generate.generator = options.generator;
      generate.llm = options.llm;
      if (generate.llm && generate.llm->cache_dir.empty()) generate.llm->cache_dir = run / "llm-cache";
      generate.held_out_fraction = options.held_out_fraction;
      generate.seed = options.seed;
      generate_training_data(generate);
      complete("generating_data");
    }
    if (!done("mining_negatives")) {
      enter("mining_negatives");
      MineOptions mine;
      mine.data_dir = data;
      mine.base_model = options.base_model;
      mine.negatives = options.negatives;
      mine.seed = options.seed;
      mine.show_progress = true;
      mine_hard_negatives(mine);
      complete("mining_negatives");
    }
    if (!done("training")) {
      enter("training");
      TrainOptions train;
      train.data_dir = data;
      train.base_model = options.base_model;
      train.train_dir = run / "train";
      train.export_dir = model;
      train.learning_rate = options.learning_rate;
      train.temperature = options.temperature;
      train.epochs = options.epochs;
      train.batch_size = options.batch_size;
      train.mini_batch = options.mini_batch;
      train.negatives = options.negatives;
      train.max_steps = options.max_steps;
      train.seed = options.seed;
      train.stop = options.stop;
      interrupted = train_model(train).interrupted;
      if (!interrupted) complete("training");
    }
    if (!interrupted && !done("evaluating")) {
      enter("evaluating");
      EvaluateOptions evaluate;
      evaluate.eval_dir = eval_dir;
      evaluate.base_model = options.base_model;
      evaluate.tuned_model = model;
      evaluate.out_dir = run / "evaluation";
      evaluate.seed = options.seed;
      evaluate.threads = options.threads;
      evaluate_gate(evaluate);
      complete("evaluating");
    }
    if (!interrupted && !done("deploying")) {
      enter("deploying");
      const Json gate = read_json_file(run / "evaluation" / "evaluation.json");
      state["deployed"] = gate.at("passed").get<bool>() || options.force_deploy;
      if (state["deployed"].get<bool>()) {
        deploy_model({run / "embedder.json", model, options.base_model, data});
      } else {
        std::fprintf(stderr, "memembed tune: not deployed: %s\n", gate.at("reason").get<std::string>().c_str());
      }
      complete("deploying");
      state["stage"] = "complete";
      write_json_file(state_path, state);
    }
  } catch (const std::exception& e) {
    state["stage"] = "failed";
    state["error"] = e.what();
    write_json_file(state_path, state);
    throw;
  }

  const Json gate = read_if_exists(run / "evaluation" / "evaluation.json");
  Json report = {{"status", interrupted ? "interrupted" : state["stage"].get<std::string>()},
                 {"run_dir", normal(run)},
                 {"base_model", normal(options.base_model)},
                 {"model", fs::exists(model) ? Json(normal(model)) : Json(nullptr)},
                 {"deployed", state.value("deployed", false)},
                 {"embedder_config", state.value("deployed", false) ? Json(normal(run / "embedder.json")) : Json(nullptr)},
                 {"generation", read_if_exists(data / "generation.json")},
                 {"mining", read_if_exists(data / "mining.json")},
                 {"training", read_if_exists(run / "train" / "train.json")},
                 {"gate", gate}};
  if (!gate.is_null()) {
    report["base"] = gate["base"];
    report["tuned"] = gate["tuned"];
  }
  write_json_file(run / "report.json", report);
  return report;
}

}  // namespace memembed::tune
