// Fine-tuning runs as background jobs of `memembed serve` (POST /admin/memory/fine-tune, docs/serve.md).
//
// A run is a child process, `memembed tune run`, not a thread of the server:
//  - its state lives in files (the run directory's state.json, train/checkpoint/, and job.json
//    beside it), so a server that dies (even kill -9) shows the run as it was after a restart, and
//    `resume` starts the same command again, which continues from the last completed stage and
//    the training checkpoint;
//  - its CPU is bounded by its own libtorch thread count (--threads, the serving encoder's threads
//    are not shared) and a lower scheduling priority (nice 10), so memory reads and writes keep
//    their cores;
//  - a crash or out-of-memory in training cannot take the memory service down.
// The child is told to stop (SIGTERM: it checkpoints and exits) on cancel, on server shutdown, and
// by the kernel when the server dies (PR_SET_PDEATHSIG).
//
// Everything a run reads or writes is inside the fine-tune root: request paths are resolved with
// `inside_root` (relative to the root or absolute inside it; "..", symlinks leading out, absolute
// paths elsewhere and URLs are refused, 400).
//
// Layout under the root: jobs/<run_id>/job.json (the request, the command, the job's state),
// jobs/<run_id>/child.log (the child's output), jobs/<run_id>/source/corpus.jsonl (the store's
// memories for source "store"), the run directory (<output_dir or runs>/<run_id>, as `tune run`
// writes it: docs/tune.md), and jobs/deployment.json (which checkpoint serves and what rollback
// returns to).
#pragma once

#include "memembed/json_io.h"

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace memembed::server {

namespace fs = std::filesystem;

// `requested` (a path from a request, named `field` in errors) as a path inside `root`: relative
// paths are joined to it (path_inside: no ".."), absolute ones must lie in it, and the path with
// its symlinks resolved must still lie in it. URLs and empty paths are refused. ApiError 400.
fs::path inside_root(const fs::path& root, const std::string& requested, const std::string& field);

struct FineTuneSettings {
  fs::path root;           // canonical; every path of a request stays inside it
  int threads = 1;         // libtorch threads of the training process
  fs::path executable;     // the memembed binary that runs `tune run` (default: this process's)
  fs::path serving_model;  // the base model when a request names none
};

// What POST /admin/memory/fine-tune asks for, validated (400 naming the field otherwise).
struct FineTuneRequest {
  std::optional<fs::path> source_dir;  // documents inside the root; none: source "store"
  fs::path base_model;
  fs::path output_dir;                 // run directories go here (default <root>/runs)
  std::optional<int> epochs;
  std::optional<double> learning_rate;
  std::optional<double> temperature;
  size_t top_k = 4;                    // hard negatives per query
  size_t batch_size = 32;
  double validation_split = 0.1;       // held-out share of the chunks (the gate's queries)
  size_t max_steps = 0;                // 0: every epoch
  uint64_t seed = 42;
};

class FineTuneJobs {
 public:
  // Reads the runs under the root. A run recorded as running belongs to a server that is gone: its
  // process is stopped if it still runs, and the run is marked interrupted (resumable).
  explicit FineTuneJobs(FineTuneSettings settings);
  // Stops a running child (it checkpoints) and waits for it; the run stays resumable.
  ~FineTuneJobs();
  FineTuneJobs(const FineTuneJobs&) = delete;
  FineTuneJobs& operator=(const FineTuneJobs&) = delete;

  const FineTuneSettings& settings() const { return settings_; }
  // Set once the service has loaded its model, before any request.
  void set_serving_model(const fs::path& model) { settings_.serving_model = model; }

  // The request body as a FineTuneRequest; 400 naming the first invalid field.
  FineTuneRequest parse_request(const Json& body) const;

  // Starts a run; `write_store_corpus` writes the store's memories to the given corpus.jsonl for
  // source "store" (returns how many). 409 while a run is active. Returns the run's status.
  Json start(const FineTuneRequest& request, const std::function<size_t(const fs::path&)>& write_store_corpus);
  // Starts the stopped run `run_id` again (404 unknown, 409 active/complete/deleted).
  Json resume(const std::string& run_id);
  // Asks the active run to stop (409 when none is active); it checkpoints and ends as cancelled.
  Json cancel();
  // The active run's status, else the most recent run's; {"stage": "idle"} when there is none.
  // {run_id, state, stage, progress, step, total_steps, loss, eta_seconds, error, stages_completed, ...}
  Json status() const;
  Json status_of(const std::string& run_id) const;  // 404 when unknown
  Json runs() const;                                 // every run, newest first

  // Runs whose training finished with a model: {id, run_id, model_path, base_model, doc_count,
  // eval, gate_passed, size_bytes, created_at, is_active}, newest first.
  Json checkpoints() const;
  Json checkpoint(const std::string& id) const;  // 404 when unknown
  // Removes the checkpoint's model and training checkpoint (the run's reports stay). 409 for the
  // active checkpoint, the one rollback returns to, and a checkpoint whose run is active.
  void delete_checkpoint(const std::string& id);

  // Deployment bookkeeping (the switch itself is the store's reindex, run by the server):
  // `deploying` records that `id` is being switched to; `switched(model)` is called after every
  // completed model switch of the store, with the model it switched to.
  struct Deployment {
    std::optional<std::string> active;         // checkpoint id serving now
    std::optional<std::string> previous;       // checkpoint id rollback returns to (none: previous_model)
    std::string previous_model;                // the model rollback returns to
    std::optional<std::string> pending;        // checkpoint id (or "rollback") being switched to
    std::string pending_model;
  };
  Deployment deployment() const;
  void deploying(const std::string& id, const std::string& model, const std::string& serving_model);
  void rolling_back(const std::string& id);
  // Returns the checkpoint now active (nullopt when the switch was not to a checkpoint).
  std::optional<std::string> switched(const std::string& model);

 private:
  void launch(const std::string& run_id);
  void watch(std::string run_id);
  Json load_job(const std::string& run_id) const;
  void save_job(const std::string& run_id, const Json& job) const;
  Json describe(const Json& job) const;
  void save_deployment(const Deployment& deployment) const;
  fs::path jobs_dir() const { return settings_.root / "jobs"; }

  FineTuneSettings settings_;
  mutable std::mutex mutex_;
  std::string active_;        // run id of the running child ("" when none)
  pid_t child_ = -1;
  bool cancel_requested_ = false;
  std::thread watcher_;
};

}  // namespace memembed::server
