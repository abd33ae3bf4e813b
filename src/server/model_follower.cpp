#include "model_follower.h"

#include "service.h"

#include <chrono>
#include <thread>

namespace memembed::server {

namespace {

std::string describe(const memory::ModelIdentity& model) {
  return model.name + " (" + std::to_string(model.dims) + " dims, fingerprint " + model.fingerprint.substr(0, 12) + ")";
}

void set_unavailable(Service& service, std::shared_ptr<const ApiError> error) {
  std::atomic_store(&service.unavailable, std::move(error));
}

}  // namespace

std::string model_source_setting(const std::string& fingerprint) { return "model_source:" + fingerprint; }

void use_model(Service& service, std::shared_ptr<BatchingEmbedder> model) {
  const memory::ModelIdentity identity = model->identity();
  std::atomic_store(&service.embedder, std::move(model));
  std::lock_guard<std::mutex> lock(service.info_mutex);
  service.parts.embedder_info["model"] = identity.name;
  service.parts.embedder_info["dims"] = identity.dims;
  service.parts.embedder_info["fingerprint"] = identity.fingerprint;
  service.log.write("info", "model_switched", {{"model", identity.name}, {"dims", identity.dims}});
}

ModelFollower::ModelFollower(Service& service) : service_(service) {
  if (!service.parts.watch_active_model) return;
  watch_ = service.parts.watch_active_model(
      [this](const std::optional<memory::ModelIdentity>& active) { follow(active); });
}

ModelFollower::~ModelFollower() { watch_.reset(); }

void ModelFollower::follow(const std::optional<memory::ModelIdentity>& active) {
  const auto embedder = std::atomic_load(&service_.embedder);
  if (!embedder || !active) return;  // a BM25-only server, or a store without vectors: nothing to follow
  std::lock_guard<std::mutex> lock(service_.model_mutex);
  if (service_.reindex->running()) return;  // this process's own switch; its end updates the model
  const memory::ModelIdentity serving = embedder->identity();
  if (serving == *active) {
    set_unavailable(service_, nullptr);  // (again) the database's model: e.g. switched back
    return;
  }
  switch_to(*active, serving);
}

void ModelFollower::switch_to(const memory::ModelIdentity& active, const memory::ModelIdentity& serving) {
  Service& s = service_;
  set_unavailable(s, std::make_shared<ApiError>(
                         503, "model_switching",
                         "another process switched this database's model to " + describe(active) +
                             "; this process is loading it"));
  s.log.write("info", "model_switch_noticed", {{"from", serving.name}, {"to", active.name}});
  try {
    std::weak_ptr<memory::MemoryStore> old_store = s.current_store();
    const std::string source =
        s.current_store()->backend().setting(model_source_setting(active.fingerprint)).value_or(active.name);
    const std::shared_ptr<const memory::Embedder> loaded = s.parts.load_model(source);
    if (!(loaded->identity() == active)) {
      throw invalid_input("{} is {}, not the model the database now serves", source, describe(loaded->identity()));
    }
    auto model = std::make_shared<BatchingEmbedder>(loaded, s.options.max_batch_texts, s.metrics);
    memory::StoreOptions options = s.parts.store_options;
    options.embedder = model;
    auto store = std::make_shared<memory::MemoryStore>(s.parts.open_backend(), options);
    std::atomic_store(&s.store, store);
    use_model(s, model);
    set_unavailable(s, nullptr);
    // Writes made through the old store since the switch carry only the old model's vector: once
    // no request holds it, embed what still lacks a vector in the active set (nothing, usually).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!old_store.expired() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    const memory::ReindexResult swept = store->reindex(model, {});
    s.log.write("info", "model_followed", {{"model", active.name}, {"source", source}, {"swept", swept.embedded}});
  } catch (const std::exception& e) {
    set_unavailable(s, std::make_shared<ApiError>(
                           503, "model_mismatch",
                           "another process switched this database's model to " + describe(active) +
                               "; this process serves " + describe(serving) + " and cannot load the new one (" +
                               e.what() + "); restart it with --model for the new model"));
    s.log.write("error", "model_switch_failed", {{"to", active.name}, {"error", e.what()}});
  }
}

}  // namespace memembed::server
