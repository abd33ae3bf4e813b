#include "fine_tune_jobs.h"

#include "api_error.h"

#include "memembed/memory.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <random>

namespace memembed::server {

namespace {

constexpr const char* kStages[] = {"generating_data", "mining_negatives", "training", "evaluating", "deploying"};
// Share of a run's work per stage, for `progress` (training dominates; the rest are single passes).
constexpr double kStageWeights[] = {0.05, 0.10, 0.70, 0.10, 0.05};
constexpr auto kStopGrace = std::chrono::seconds(20);  // SIGTERM -> SIGKILL

bool is_within(const fs::path& inner, const fs::path& outer) {
  const std::string a = inner.string(), b = outer.string();
  return a == b || (a.size() > b.size() && a.compare(0, b.size(), b) == 0 && a[b.size()] == '/');
}

std::string now_text() { return memory::format_timestamp(memory::now_micros()); }

std::string new_run_id() {
  const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &utc);
  std::random_device device;
  char suffix[8];
  std::snprintf(suffix, sizeof suffix, "%04x", device() & 0xffffu);
  return std::string("ft-") + stamp + "-" + suffix;
}

Json read_if_exists(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return nullptr;
  try {
    return read_json_file(path);
  } catch (const std::exception&) {
    return nullptr;  // being replaced right now (written atomically, so only briefly absent)
  }
}

// The last `count` lines of a JSONL file, reading only its end.
std::vector<Json> tail_jsonl(const fs::path& path, size_t count) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  const std::streamoff start = std::max<std::streamoff>(0, size - 16384);
  in.seekg(start);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<Json> lines;
  size_t begin = start > 0 ? text.find('\n') + 1 : 0;  // the first line may be cut
  while (begin < text.size()) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) break;  // a line still being written
    Json line = Json::parse(text.substr(begin, end - begin), nullptr, false);
    if (!line.is_discarded()) lines.push_back(std::move(line));
    begin = end + 1;
  }
  if (lines.size() > count) lines.erase(lines.begin(), lines.end() - static_cast<std::ptrdiff_t>(count));
  return lines;
}

std::string tail_text(const fs::path& path, size_t bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  in.seekg(std::max<std::streamoff>(0, size - static_cast<std::streamoff>(bytes)));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

uintmax_t directory_bytes(const fs::path& dir) {
  uintmax_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_regular_file(ec)) total += it->file_size(ec);
  }
  return total;
}

bool process_alive(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

// The process `pid` is `memembed tune run --out run_dir` (not a later process reusing the pid).
bool is_run_process(pid_t pid, const std::string& run_dir) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  const std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return cmdline.find(std::string("\0--out\0", 7) + run_dir + std::string("\0", 1)) != std::string::npos;
}

// Waits up to kStopGrace for `pid` to end; false when it still runs.
bool wait_for_end(pid_t pid) {
  const auto deadline = std::chrono::steady_clock::now() + kStopGrace;
  while (process_alive(pid) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return !process_alive(pid);
}

// Ends the training process of a server that is gone. It got SIGTERM when its server died
// (PR_SET_PDEATHSIG) and is writing its checkpoint: a second SIGTERM would kill it before it has,
// so it gets time first.
void stop_orphan(pid_t pid, const std::string& run_dir) {
  if (!process_alive(pid) || !is_run_process(pid, run_dir) || wait_for_end(pid)) return;
  ::kill(pid, SIGTERM);
  if (!wait_for_end(pid)) ::kill(pid, SIGKILL);
}

template <typename T>
T number_field(const Json& body, const char* field, T low, T high, const char* expected) {
  const Json& value = body.at(field);
  const bool integral = std::is_integral_v<T>;
  if (!value.is_number() || (integral && !value.is_number_integer())) {
    throw ApiError(400, "invalid_request", std::string(field) + " must be " + expected);
  }
  const double number = value.get<double>();
  if (!(number >= static_cast<double>(low) && number <= static_cast<double>(high))) {
    throw ApiError(400, "invalid_request", std::string(field) + " must be " + expected + ", got " + value.dump());
  }
  return value.get<T>();
}

}  // namespace

fs::path inside_root(const fs::path& root, const std::string& requested, const std::string& field) {
  if (requested.empty()) throw ApiError(400, "invalid_path", field + " is empty");
  if (requested.find("://") != std::string::npos || requested.rfind("file:", 0) == 0) {
    throw ApiError(400, "invalid_path", field + " \"" + requested + "\" is a URL; give a path inside the fine-tune root");
  }
  fs::path joined;
  if (fs::path(requested).is_absolute()) {
    joined = fs::path(requested).lexically_normal();
  } else {
    try {
      joined = path_inside(root, requested, field);
    } catch (const Error& e) {
      throw ApiError(400, "invalid_path", e.what());
    }
  }
  std::error_code ec;
  const fs::path resolved = fs::weakly_canonical(joined, ec);
  if (ec || !is_within(resolved, root)) {
    throw ApiError(400, "invalid_path",
                   field + " \"" + requested + "\" leads outside the fine-tune root " + root.string() +
                       (is_within(joined, root) ? " (through a symbolic link)" : ""));
  }
  return resolved;
}

FineTuneJobs::FineTuneJobs(FineTuneSettings settings) : settings_(std::move(settings)) {
  fs::create_directories(settings_.root);
  settings_.root = fs::canonical(settings_.root);
  if (settings_.executable.empty()) settings_.executable = fs::read_symlink("/proc/self/exe");
  if (settings_.threads < 1) throw invalid_input("--fine-tune-threads must be at least 1");
  fs::create_directories(jobs_dir());
  for (const auto& entry : fs::directory_iterator(jobs_dir())) {
    if (!entry.is_directory() || !fs::exists(entry.path() / "job.json")) continue;
    Json job = read_json_file(entry.path() / "job.json");
    if (job.value("state", "") != "running") continue;
    stop_orphan(job.value("pid", -1), job.value("run_dir", ""));
    job["state"] = "interrupted";
    job["updated_at"] = now_text();
    write_json_file(entry.path() / "job.json", job);
  }
}

FineTuneJobs::~FineTuneJobs() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (child_ > 0) ::kill(child_, SIGTERM);  // checkpoints and exits; the watcher marks it interrupted
  }
  if (watcher_.joinable()) watcher_.join();
}

FineTuneRequest FineTuneJobs::parse_request(const Json& body) const {
  FineTuneRequest request;
  const fs::path& root = settings_.root;
  auto string_field = [&](const char* field) {
    if (!body[field].is_string()) throw ApiError(400, "invalid_request", std::string(field) + " must be a string");
    return body[field].get<std::string>();
  };
  const bool has_dir = body.contains("source_dir"), has_source = body.contains("source");
  if (has_dir && has_source) throw ApiError(400, "invalid_request", "give source_dir or source, not both");
  if (has_source && string_field("source") != "store") {
    throw ApiError(400, "invalid_request", "source must be \"store\" (the service's memories); for documents give source_dir");
  }
  if (has_dir) {
    request.source_dir = inside_root(root, string_field("source_dir"), "source_dir");
    if (!fs::exists(*request.source_dir)) {
      throw ApiError(400, "invalid_path", "source_dir " + request.source_dir->string() + " does not exist");
    }
  } else if (!has_source) {
    throw ApiError(400, "invalid_request", "source_dir (documents inside the fine-tune root) or source: \"store\" is required");
  }
  if (body.contains("base_model")) {
    request.base_model = inside_root(root, string_field("base_model"), "base_model");
    if (!fs::exists(request.base_model / "modules.json")) {
      throw ApiError(400, "invalid_request", "base_model " + request.base_model.string() + " is not a model directory (no modules.json)");
    }
  } else {
    if (settings_.serving_model.empty()) {
      throw ApiError(400, "invalid_request", "base_model is required (this server serves no model directory)");
    }
    request.base_model = settings_.serving_model;
  }
  request.output_dir = body.contains("output_dir") ? inside_root(root, string_field("output_dir"), "output_dir")
                                                   : root / "runs";
  if (is_within(request.output_dir, jobs_dir())) {
    throw ApiError(400, "invalid_path", "output_dir may not lie in " + jobs_dir().string() + " (the job records)");
  }
  if (body.contains("epochs")) request.epochs = number_field<int>(body, "epochs", 1, 1000, "an integer in 1..1000");
  if (body.contains("learning_rate")) {
    request.learning_rate = number_field<double>(body, "learning_rate", 1e-9, 1.0, "a number in (0, 1]");
  }
  if (body.contains("temperature")) {
    request.temperature = number_field<double>(body, "temperature", 1e-4, 10.0, "a number in [0.0001, 10]");
  }
  if (body.contains("top_k")) request.top_k = number_field<size_t>(body, "top_k", 0, 64, "an integer in 0..64");
  if (body.contains("batch_size")) {
    request.batch_size = number_field<size_t>(body, "batch_size", 2, 65536, "an integer in 2..65536");
  }
  if (body.contains("validation_split")) {
    request.validation_split = number_field<double>(body, "validation_split", 0.01, 0.5, "a number in [0.01, 0.5]");
  }
  if (body.contains("max_steps")) request.max_steps = number_field<size_t>(body, "max_steps", 0, 10000000, "an integer >= 0");
  if (body.contains("seed")) request.seed = number_field<uint64_t>(body, "seed", 0, UINT32_MAX, "an integer >= 0");
  return request;
}

Json FineTuneJobs::load_job(const std::string& run_id) const {
  const bool valid = !run_id.empty() && run_id.size() < 64 &&
                     std::all_of(run_id.begin(), run_id.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-'; });
  if (!valid || !fs::exists(jobs_dir() / run_id / "job.json")) {
    throw ApiError(404, "not_found", "no fine-tune run \"" + run_id + "\"");
  }
  return read_json_file(jobs_dir() / run_id / "job.json");
}

void FineTuneJobs::save_job(const std::string& run_id, const Json& job) const {
  write_json_file(jobs_dir() / run_id / "job.json", job);
}

Json FineTuneJobs::start(const FineTuneRequest& request,
                         const std::function<size_t(const fs::path&)>& write_store_corpus) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!active_.empty()) {
    throw ApiError(409, "conflict", "fine-tune run " + active_ + " is active; GET /admin/memory/fine-tune/status, or cancel it");
  }
  const std::string run_id = new_run_id();
  const fs::path job_dir = jobs_dir() / run_id;
  const fs::path run_dir = request.output_dir / run_id;
  fs::create_directories(job_dir);
  fs::path docs;
  size_t store_memories = 0;
  if (request.source_dir) {
    docs = *request.source_dir;
    if (is_within(run_dir, docs) || is_within(docs, run_dir)) {
      throw ApiError(400, "invalid_path", "output_dir may not lie inside source_dir (the run would read its own output)");
    }
  } else {
    docs = job_dir / "source" / "corpus.jsonl";
    store_memories = write_store_corpus(docs);
    if (store_memories == 0) {
      fs::remove_all(job_dir);
      throw ApiError(400, "invalid_request", "source \"store\": the store has no memories to train on");
    }
  }
  std::vector<std::string> command = {settings_.executable.string(),
                                      "--quiet",
                                      "tune",
                                      "run",
                                      "--docs",
                                      docs.string(),
                                      "--base-model",
                                      request.base_model.string(),
                                      "--out",
                                      run_dir.string(),
                                      "--threads",
                                      std::to_string(settings_.threads),
                                      "--batch-size",
                                      std::to_string(request.batch_size),
                                      "--mini-batch",
                                      std::to_string(std::min<size_t>(32, request.batch_size)),
                                      "--negatives",
                                      std::to_string(request.top_k),
                                      "--held-out",
                                      fmt::format("{}", request.validation_split),
                                      "--seed",
                                      std::to_string(request.seed),
                                      "--max-steps",
                                      std::to_string(request.max_steps)};
  if (request.epochs) command.insert(command.end(), {"--epochs", std::to_string(*request.epochs)});
  if (request.learning_rate) command.insert(command.end(), {"--lr", fmt::format("{}", *request.learning_rate)});
  if (request.temperature) command.insert(command.end(), {"--temperature", fmt::format("{}", *request.temperature)});
  Json settings = {{"source", request.source_dir ? Json(request.source_dir->string()) : Json("store")},
                   {"base_model", request.base_model.string()},
                   {"output_dir", request.output_dir.string()},
                   {"epochs", request.epochs ? Json(*request.epochs) : Json(nullptr)},
                   {"learning_rate", request.learning_rate ? Json(*request.learning_rate) : Json(nullptr)},
                   {"temperature", request.temperature ? Json(*request.temperature) : Json(nullptr)},
                   {"top_k", request.top_k},
                   {"batch_size", request.batch_size},
                   {"validation_split", request.validation_split},
                   {"max_steps", request.max_steps},
                   {"seed", request.seed},
                   {"threads", settings_.threads}};
  if (!request.source_dir) settings["store_memories"] = store_memories;
  const Json job = {{"run_id", run_id},      {"state", "running"}, {"created_at", now_text()},
                    {"updated_at", now_text()}, {"run_dir", run_dir.string()}, {"settings", settings},
                    {"command", command}};
  save_job(run_id, job);
  lock.unlock();
  launch(run_id);
  return status_of(run_id);
}

Json FineTuneJobs::resume(const std::string& run_id) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!active_.empty()) {
      throw ApiError(409, "conflict", "fine-tune run " + active_ + " is active; only one run at a time");
    }
    Json job = load_job(run_id);
    const std::string state = job.value("state", "");
    if (state == "complete") throw ApiError(409, "conflict", "fine-tune run " + run_id + " is already complete");
    if (job.value("checkpoint_deleted", false)) {
      throw ApiError(409, "conflict", "the checkpoint of run " + run_id + " was deleted; start a new run");
    }
    job["state"] = "running";
    job["updated_at"] = now_text();
    job["resumed"] = job.value("resumed", 0) + 1;
    job.erase("error");
    save_job(run_id, job);
  }
  launch(run_id);
  return status_of(run_id);
}

void FineTuneJobs::launch(const std::string& run_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (watcher_.joinable()) watcher_.join();  // the previous run's watcher has finished
  active_ = run_id;
  cancel_requested_ = false;
  child_ = -1;
  // The child is forked by the thread that waits for it: PR_SET_PDEATHSIG fires when the forking
  // thread ends, so that thread must live as long as the child.
  watcher_ = std::thread([this, run_id] { watch(run_id); });
}

void FineTuneJobs::watch(std::string run_id) {
  Json job = load_job(run_id);
  std::vector<std::string> command = job["command"].get<std::vector<std::string>>();
  std::vector<char*> argv;
  for (auto& argument : command) argv.push_back(argument.data());
  argv.push_back(nullptr);
  const fs::path log_path = jobs_dir() / run_id / "child.log";
  const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const pid_t parent = ::getpid();
  pid_t pid = log < 0 ? -1 : ::fork();
  if (pid == 0) {
    // Only async-signal-safe calls until exec. The server blocks SIGTERM/SIGINT in every thread
    // (one thread takes them with sigwait) and ignores SIGPIPE; the child needs them back.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(70);  // the server died before prctl
    ::setpriority(PRIO_PROCESS, 0, 10);
    ::dup2(log, STDOUT_FILENO);
    ::dup2(log, STDERR_FILENO);
    const int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, STDIN_FILENO);
    // The server's sockets and the store's lock file must not stay open in the child.
    if (::syscall(SYS_close_range, 3u, ~0u, 0u) != 0) {
      for (int fd = 3; fd < 65536; ++fd) ::close(fd);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  if (log >= 0) ::close(log);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    child_ = pid;
    if (pid > 0 && cancel_requested_) ::kill(pid, SIGTERM);
  }
  job["pid"] = pid;
  save_job(run_id, job);

  int status = 0;
  std::string error;
  if (pid < 0) {
    error = std::string("cannot start the training process: ") + std::strerror(errno);
  } else {
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  const bool exited_zero = pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  const Json run_state = read_if_exists(fs::path(job["run_dir"].get<std::string>()) / "state.json");
  const std::string stage = run_state.is_object() ? run_state.value("stage", "") : "";
  std::lock_guard<std::mutex> lock(mutex_);
  job = load_job(run_id);
  if (exited_zero && stage == "complete") {
    job["state"] = "complete";
  } else if (cancel_requested_) {
    job["state"] = "cancelled";
  } else if (exited_zero || (pid > 0 && WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM)) {
    job["state"] = "interrupted";  // the server stopped it (shutdown); resume continues
  } else {
    job["state"] = "failed";
    if (error.empty() && stage == "failed") error = run_state.value("error", "");
    if (error.empty()) {
      error = pid > 0 && WIFSIGNALED(status) ? fmt::format("the training process was killed by signal {}", WTERMSIG(status))
                                             : fmt::format("the training process exited with status {}", WEXITSTATUS(status));
      const std::string output = tail_text(log_path, 600);
      if (!output.empty()) error += ": " + output;
    }
    job["error"] = error;
  }
  job.erase("pid");
  job["updated_at"] = now_text();
  job["finished_at"] = now_text();
  save_job(run_id, job);
  child_ = -1;
  active_.clear();
}

Json FineTuneJobs::cancel() {
  std::string run_id;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (active_.empty()) throw ApiError(409, "conflict", "no fine-tune run is active");
    run_id = active_;
    cancel_requested_ = true;
    if (child_ > 0) ::kill(child_, SIGTERM);  // it checkpoints and exits
  }
  // Outside training the child stops at its next check; make sure it ends.
  const pid_t pid = [&] {
    std::lock_guard<std::mutex> lock(mutex_);
    return child_;
  }();
  std::thread([pid, run_dir = load_job(run_id).value("run_dir", "")] {
    if (pid > 0 && !wait_for_end(pid) && is_run_process(pid, run_dir)) ::kill(pid, SIGKILL);
  }).detach();
  Json out = status_of(run_id);
  out["cancel_requested"] = true;
  return out;
}

Json FineTuneJobs::describe(const Json& job) const {
  const fs::path run_dir = job.value("run_dir", "");
  const Json run_state = read_if_exists(run_dir / "state.json");
  const std::string state = job.value("state", "");
  Json completed = Json::array();
  std::string stage = kStages[0];
  if (run_state.is_object()) {
    completed = run_state.value("completed", Json::array());
    stage = run_state.value("stage", stage);
  }
  if (state == "complete" || state == "cancelled" || state == "failed") stage = state;
  Json out = {{"run_id", job.value("run_id", "")},
              {"state", state},
              {"stage", stage},
              {"stages_completed", completed},
              {"created_at", job.value("created_at", "")},
              {"updated_at", job.value("updated_at", "")},
              {"run_dir", run_dir.string()},
              {"settings", job.value("settings", Json::object())},
              {"loss", nullptr},
              {"eta_seconds", nullptr},
              {"error", job.contains("error") ? job["error"] : Json(nullptr)}};
  if (job.contains("finished_at")) out["finished_at"] = job["finished_at"];
  if (state == "interrupted") out["resumable"] = true;

  double progress = 0;
  for (size_t i = 0; i < std::size(kStages); ++i) {
    for (const auto& name : completed) {
      if (name == kStages[i]) progress += kStageWeights[i];
    }
  }
  const std::vector<Json> steps = tail_jsonl(run_dir / "train" / "log.jsonl", 20);
  if (!steps.empty()) {
    const Json& last = steps.back();
    const size_t step = last.value("step", size_t{0}), total = last.value("total_steps", size_t{0});
    out["step"] = step;
    out["total_steps"] = total;
    out["loss"] = last.value("loss", 0.0);
    bool training_done = false;
    for (const auto& name : completed) training_done = training_done || name == "training";
    if (!training_done && total > 0) {
      progress += kStageWeights[2] * static_cast<double>(step) / static_cast<double>(total);
      double seconds = 0;
      for (const Json& line : steps) seconds += line.value("seconds", 0.0);
      if (state == "running" && step < total) {
        out["eta_seconds"] = std::ceil(seconds / static_cast<double>(steps.size()) * static_cast<double>(total - step));
      }
    }
  }
  out["progress"] = stage == "complete" ? 1.0 : std::min(1.0, std::round(progress * 1000) / 1000);
  const Json gate = read_if_exists(run_dir / "evaluation" / "evaluation.json");
  if (gate.is_object()) {
    out["gate"] = {{"passed", gate.value("passed", false)}, {"reason", gate.value("reason", "")},
                   {"p_value", gate.value("p_value", 1.0)}, {"base", gate.value("base", Json())},
                   {"tuned", gate.value("tuned", Json())}};
  }
  if (fs::exists(run_dir / "model" / "modules.json") && !job.value("checkpoint_deleted", false)) {
    out["checkpoint_id"] = job["run_id"];
  }
  return out;
}

Json FineTuneJobs::status_of(const std::string& run_id) const { return describe(load_job(run_id)); }

Json FineTuneJobs::status() const {
  std::string active;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    active = active_;
  }
  if (!active.empty()) return status_of(active);
  const Json all = runs();
  if (all["runs"].empty()) return {{"stage", "idle"}, {"state", "idle"}, {"progress", 0}};
  return all["runs"][0];
}

Json FineTuneJobs::runs() const {
  std::vector<Json> jobs;
  for (const auto& entry : fs::directory_iterator(jobs_dir())) {
    if (entry.is_directory() && fs::exists(entry.path() / "job.json")) jobs.push_back(read_if_exists(entry.path() / "job.json"));
  }
  jobs.erase(std::remove_if(jobs.begin(), jobs.end(), [](const Json& job) { return !job.is_object(); }), jobs.end());
  std::sort(jobs.begin(), jobs.end(), [](const Json& a, const Json& b) {
    return std::make_pair(a.value("created_at", ""), a.value("run_id", "")) >
           std::make_pair(b.value("created_at", ""), b.value("run_id", ""));
  });
  Json out = Json::array();
  for (const Json& job : jobs) out.push_back(describe(job));
  return {{"runs", out}};
}

// ---- Checkpoints and deployment ------------------------------------------------------------------

Json FineTuneJobs::checkpoint(const std::string& id) const {
  const Json job = load_job(id);
  const fs::path run_dir = job.value("run_dir", "");
  const fs::path model = run_dir / "model";
  if (job.value("checkpoint_deleted", false) || !fs::exists(model / "modules.json") || job.value("state", "") == "running") {
    throw ApiError(404, "not_found", "run " + id + " has no checkpoint (its training has not finished, or it was deleted)");
  }
  const Json gate = read_if_exists(run_dir / "evaluation" / "evaluation.json");
  const Json generation = read_if_exists(run_dir / "data" / "generation.json");
  const Deployment deployed = deployment();
  std::error_code ec;
  const auto written = fs::last_write_time(model / "modules.json", ec);
  const auto system_time = std::chrono::time_point_cast<std::chrono::microseconds>(
      written - fs::file_time_type::clock::now() + std::chrono::system_clock::now());
  Json out = {{"id", id},
              {"run_id", id},
              {"model_path", model.string()},
              {"base_model", job.value("settings", Json::object()).value("base_model", "")},
              {"doc_count", generation.is_object() ? generation.value("documents", 0) : 0},
              {"chunk_count", generation.is_object() ? generation.value("chunks", 0) : 0},
              {"eval", gate.is_object() ? Json{{"base", gate.value("base", Json())},
                                               {"tuned", gate.value("tuned", Json())},
                                               {"p_value", gate.value("p_value", Json())},
                                               {"queries", gate.value("queries", Json())}}
                                        : Json(nullptr)},
              {"gate_passed", gate.is_object() && gate.value("passed", false)},
              {"gate_reason", gate.is_object() ? gate.value("reason", "") : "not evaluated yet"},
              {"size_bytes", directory_bytes(model)},
              {"created_at", memory::format_timestamp(system_time.time_since_epoch().count())},
              {"is_active", deployed.active == id}};
  return out;
}

Json FineTuneJobs::checkpoints() const {
  Json out = Json::array();
  const Json all = runs();
  for (const Json& run : all["runs"]) {
    if (!run.contains("checkpoint_id") || run["state"] == "running") continue;
    out.push_back(checkpoint(run["run_id"].get<std::string>()));
  }
  return {{"checkpoints", out}};
}

void FineTuneJobs::delete_checkpoint(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  Json job = load_job(id);
  if (active_ == id) throw ApiError(409, "conflict", "run " + id + " is active; cancel it first");
  const Deployment deployed = deployment();
  if (deployed.active == id || deployed.pending == id) {
    throw ApiError(409, "conflict", "checkpoint " + id + " is the deployed model; deploy another or roll back first");
  }
  if (deployed.previous == id) {
    throw ApiError(409, "conflict", "checkpoint " + id + " is what rollback returns to; it is kept while " +
                                        deployed.active.value_or("the active checkpoint") + " is deployed");
  }
  const fs::path run_dir = job.value("run_dir", "");
  if (job.value("checkpoint_deleted", false) || !fs::exists(run_dir / "model")) {
    throw ApiError(404, "not_found", "run " + id + " has no checkpoint");
  }
  fs::remove_all(run_dir / "model");
  fs::remove_all(run_dir / "train" / "checkpoint");
  job["checkpoint_deleted"] = true;
  job["updated_at"] = now_text();
  save_job(id, job);
}

FineTuneJobs::Deployment FineTuneJobs::deployment() const {
  Deployment out;
  const Json record = read_if_exists(jobs_dir() / "deployment.json");
  if (!record.is_object()) return out;
  auto optional = [&](const char* field) -> std::optional<std::string> {
    if (!record.contains(field) || !record[field].is_string()) return std::nullopt;
    return record[field].get<std::string>();
  };
  out.active = optional("active");
  out.previous = optional("previous");
  out.previous_model = record.value("previous_model", "");
  out.pending = optional("pending");
  out.pending_model = record.value("pending_model", "");
  return out;
}

void FineTuneJobs::save_deployment(const Deployment& deployment) const {
  auto optional = [](const std::optional<std::string>& value) { return value ? Json(*value) : Json(nullptr); };
  write_json_file(jobs_dir() / "deployment.json", {{"active", optional(deployment.active)},
                                                   {"previous", optional(deployment.previous)},
                                                   {"previous_model", deployment.previous_model},
                                                   {"pending", optional(deployment.pending)},
                                                   {"pending_model", deployment.pending_model},
                                                   {"updated_at", now_text()}});
}

void FineTuneJobs::deploying(const std::string& id, const std::string& model, const std::string& serving_model) {
  std::lock_guard<std::mutex> lock(mutex_);
  Deployment record = deployment();
  if (record.active != id) {
    // What serves now is what rollback returns to.
    record.previous = record.active;
    record.previous_model = record.active ? checkpoint(*record.active)["model_path"].get<std::string>() : serving_model;
  }
  record.pending = id;
  record.pending_model = model;
  save_deployment(record);
}

void FineTuneJobs::rolling_back(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  Deployment record = deployment();
  if (record.active != id) {
    throw ApiError(409, "conflict", "checkpoint " + id + " is not the deployed one" +
                                        (record.active ? " (" + *record.active + " is)" : " (no checkpoint is deployed)"));
  }
  if (record.previous_model.empty()) throw ApiError(409, "conflict", "there is no previous model to roll back to");
  record.pending = "rollback";
  record.pending_model = record.previous_model;
  save_deployment(record);
}

std::optional<std::string> FineTuneJobs::switched(const std::string& model) {
  std::lock_guard<std::mutex> lock(mutex_);
  Deployment record = deployment();
  if (record.pending && model == record.pending_model) {
    if (*record.pending == "rollback") {
      record.active = record.previous;
      record.previous.reset();
      record.previous_model.clear();
    } else {
      record.active = record.pending;
    }
  } else {
    record.active.reset();  // a plain reindex to some other model
    record.previous.reset();
    record.previous_model.clear();
  }
  record.pending.reset();
  record.pending_model.clear();
  save_deployment(record);
  return record.active;
}

}  // namespace memembed::server
