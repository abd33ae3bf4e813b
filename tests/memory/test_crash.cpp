// Crash tests with real processes: SIGKILL at random points must never lose an acknowledged write
// or a memory, and an interrupted reindex must resume to completion with the old model serving
// meanwhile.
#include "cli_support.h"
#include "fixture_support.h"
#include "memembed/error.h"
#include "memembed/memory.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <sstream>
#include <thread>

namespace memembed::testing {

using namespace memembed::memory;
namespace fs = std::filesystem;

namespace {

// Starts `argv` with stdout on a pipe; returns pid and the read end.
std::pair<pid_t, int> spawn(const std::vector<std::string>& argv) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    ::close(fds[1]);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  return {pid, fds[0]};
}

int kill_and_wait(pid_t pid) {
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

}  // namespace

TEST(CrashSafety, EveryAcknowledgedWriteSurvivesSigkill) {
  const TempDir dir_temp;
  const fs::path dir = dir_temp.path();
  std::mt19937 random(20261130);
  std::vector<std::string> acknowledged;
  for (int round = 0; round < 3; ++round) {
    auto [pid, out] = spawn({MEMORY_CRASH_WRITER, dir.string()});
    // Kill after a random number of acknowledged writes, at a random moment after the last one.
    const size_t target = std::uniform_int_distribution<size_t>(5, 60)(random);
    std::string pending;
    size_t seen = 0;
    char buffer[4096];
    while (seen < target) {
      const ssize_t n = ::read(out, buffer, sizeof(buffer));
      if (n <= 0) break;
      pending.append(buffer, static_cast<size_t>(n));
      for (size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
        acknowledged.push_back(pending.substr(0, nl));
        pending.erase(0, nl + 1);
        ++seen;
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, 3000)(random)));
    kill_and_wait(pid);
    // Lines written before the kill but not read yet were acknowledged too.
    for (ssize_t n; (n = ::read(out, buffer, sizeof(buffer))) > 0;) pending.append(buffer, static_cast<size_t>(n));
    for (size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
      acknowledged.push_back(pending.substr(0, nl));
      pending.erase(0, nl + 1);
    }
    ::close(out);
    ASSERT_GE(seen, target) << "the writer stopped early";
    // The lock died with the process: the store opens, and holds every acknowledged write.
    MemoryStore store(open_sqlite_backend(dir), StoreOptions{});
    for (const std::string& id : acknowledged) EXPECT_NO_THROW(store.get("writer", id)) << id;
    EXPECT_GE(store.count("writer"), acknowledged.size());
  }
}

TEST(CrashSafety, AKilledReindexResumesToCompletionAndNeverLosesAMemory) {
  MEMEMBED_REQUIRE_SHARED(fixture_dir("bert-tiny"));
  MEMEMBED_REQUIRE_SHARED(fixture_dir("bert-tiny-cls"));
  const TempDir dir_temp;
  const fs::path dir = dir_temp.path();
  const std::string old_model = fixture_dir("bert-tiny").string(), new_model = fixture_dir("bert-tiny-cls").string();
  const size_t memories = 400;
  {
    StoreOptions options;
    options.embedder = load_model_embedder(old_model);
    MemoryStore store(open_sqlite_backend(dir), options);
    std::stringstream lines;
    for (size_t i = 0; i < memories; ++i) {
      lines << Json{{"id", fmt::format("m{:04}", i)}, {"agent_id", "a"}, {"category", "SEMANTIC"},
                    {"content", fmt::format("fact number {} about the reindex crash test", i)},
                    {"created_at", "2026-11-30T12:00:00Z"}}
                   .dump()
            << "\n";
    }
    ASSERT_EQ(store.import_jsonl(lines, "generated"), memories);
  }
  const auto old_embedder = load_model_embedder(old_model), new_embedder = load_model_embedder(new_model);
  std::mt19937 random(7);
  bool completed = false;
  int kills = 0;
  for (int attempt = 0; attempt < 6 && !completed; ++attempt) {
    auto [pid, out] = spawn({MEMEMBED_BINARY, "--quiet", "memory", "reindex", "--data", dir.string(), "--model",
                             new_model, "--batch", "16"});
    const int delay_ms = std::uniform_int_distribution<int>(100, 1500)(random);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(delay_ms);
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline && ::waitpid(pid, &status, WNOHANG) == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (::waitpid(pid, &status, WNOHANG) == 0) {
      kill_and_wait(pid);
      ++kills;
    } else {
      completed = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    ::close(out);
    // Whatever happened, no memory is lost, and the store serves with the active set's model.
    auto backend = open_sqlite_backend(dir);
    std::optional<VectorSet> active;
    for (const VectorSet& s : backend->vector_sets()) {
      if (s.state == VectorSetState::Active) active = s;
    }
    ASSERT_TRUE(active.has_value());
    EXPECT_EQ(active->vectors, memories);  // the active set is always complete
    StoreOptions options;
    options.embedder = active->model == new_embedder->identity() ? new_embedder : old_embedder;
    MemoryStore store(std::move(backend), options);
    EXPECT_EQ(store.count("a"), memories);
    Query q;
    q.text = "fact number 7";
    EXPECT_FALSE(store.retrieve("a", q).empty());
  }
  if (!completed) {  // finish without interruption
    ASSERT_EQ(run_memembed("--quiet memory reindex --data " + dir.string() + " --model " + new_model).exit_code, 0);
  }
  StoreOptions options;
  options.embedder = new_embedder;
  MemoryStore store(open_sqlite_backend(dir), options);  // the new model is the active one now
  EXPECT_EQ(store.count("a"), memories);
  EXPECT_GT(kills, 0) << "no run was interrupted; the test proved nothing";
}

}  // namespace memembed::testing
