// The embedder config pointing at the tuned model, with the previous config kept for rollback
// (tune.h, deploy_model / rollback_deployment).
#include "memembed/error.h"
#include "memembed/model.h"
#include "memembed/select.h"
#include "memembed/tune.h"

namespace memembed::tune {

namespace {

fs::path backup_of(const fs::path& config) { return config.string() + ".previous"; }

std::string absolute_path(const fs::path& path) { return fs::absolute(path).lexically_normal().string(); }

}  // namespace

fs::path deploy_model(const DeployOptions& options) {
  if (!fs::exists(options.model_dir / "modules.json")) {
    throw not_found("{}: not a model directory (no modules.json); train first", options.model_dir.string());
  }
  const auto tuned = model::SentenceTransformer::load(options.model_dir);
  select::EmbedderConfig config;
  fs::path backup;
  if (fs::exists(options.config)) {
    config = select::load_embedder_config(options.config);
    backup = backup_of(options.config);
    fs::copy_file(options.config, backup, fs::copy_options::overwrite_existing);
  } else {
    config.model = fs::absolute(options.base_model).lexically_normal().filename().string();
    config.model_path = absolute_path(options.base_model);
    for (const char* category : select::kConfigCategories) config.query_instructions[category] = std::nullopt;
  }
  if (config.dims != 0 && static_cast<size_t>(config.dims) != tuned->embedding_dimension()) {
    throw invalid_input("{}: dims is {} but the tuned model {} makes {}-dimensional vectors", options.config.string(),
                        config.dims, options.model_dir.string(), tuned->embedding_dimension());
  }
  config.dims = static_cast<int>(tuned->embedding_dimension());
  config.fine_tune.enabled = true;
  config.fine_tune.checkpoint_path = absolute_path(options.model_dir);
  config.fine_tune.base_model = absolute_path(options.base_model);
  if (!options.training_data_dir.empty()) config.fine_tune.training_data_dir = absolute_path(options.training_data_dir);
  select::save_embedder_config(options.config, config);
  return backup;
}

void rollback_deployment(const fs::path& config) {
  const fs::path backup = backup_of(config);
  if (!fs::exists(backup)) throw not_found("{}: no previous configuration to roll back to", backup.string());
  select::load_embedder_config(backup);  // refuse to restore a broken file
  fs::rename(backup, config);
}

}  // namespace memembed::tune
