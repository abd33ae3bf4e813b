// Several `memembed serve` processes on one database: a reindex in one of them switches the
// database's active vector set under the others, whose stores still embed with the old model
// (their searches would miss the new set, their writes would lack its vectors).
//
// The follower, told by the backend's watch what the database serves (at start, after every switch
// and periodically), brings this process along: it loads the new model (from where the switching
// process found it, which that process records as a setting, else by the model's name), checks its
// fingerprint, reopens the store with it and swaps it in. Memory and embeddings routes answer 503
// "model_switching" meanwhile; when the model cannot be loaded here they answer 503
// "model_mismatch" naming both models (and /ready fails) until a restart with the new model or a
// switch back. Writes this process made with the old model between the switch and noticing it get
// their new vector by a sweep once no request holds the old store any more.
#pragma once

#include "memembed/memory.h"

#include <memory>
#include <optional>
#include <string>

namespace memembed::server {

struct Service;
class BatchingEmbedder;

class ModelFollower {
 public:
  // Starts following when the store is shared (ServiceParts::watch_active_model); else does nothing.
  explicit ModelFollower(Service& service);
  ~ModelFollower();  // stops following (waits for a switch in progress)
  ModelFollower(const ModelFollower&) = delete;
  ModelFollower& operator=(const ModelFollower&) = delete;

 private:
  void follow(const std::optional<memory::ModelIdentity>& active);
  void switch_to(const memory::ModelIdentity& active, const memory::ModelIdentity& serving);

  Service& service_;
  std::shared_ptr<void> watch_;  // last: stopped first
};

// Makes `model` the one this process embeds with (its /v1/embeddings, GET /admin/memory/embedder).
void use_model(Service& service, std::shared_ptr<BatchingEmbedder> model);

// The store setting under which a reindex records where it loaded the model of `fingerprint` from
// (a directory or ORG/NAME), so that the other processes load the same one.
std::string model_source_setting(const std::string& fingerprint);

}  // namespace memembed::server
