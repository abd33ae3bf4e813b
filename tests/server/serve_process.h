// A real `memembed serve` process for tests: started with the given arguments on a free port
// (--port 0; the port is read from its "listening" log line), stopped with a signal, and its
// structured log kept for assertions.
#pragma once

#include "fixture_support.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

namespace memembed::testing {

class ServeProcess {
 public:
  // Starts `memembed serve <arguments> --port 0`; `log_path` receives its stderr.
  ServeProcess(std::vector<std::string> arguments, std::filesystem::path log_path)
      : log_path_(std::move(log_path)) {
    arguments.insert(arguments.begin(), {MEMEMBED_BINARY, "serve"});
    arguments.insert(arguments.end(), {"--port", "0", "--threads", "1"});
    std::ofstream(log_path_).close();  // exists before the child writes to it
    pid_ = ::fork();
    if (pid_ == 0) {
      std::FILE* log = std::fopen(log_path_.c_str(), "a");
      if (log) ::dup2(::fileno(log), STDERR_FILENO);
      std::vector<char*> argv;
      for (auto& argument : arguments) argv.push_back(argument.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  ~ServeProcess() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  // Waits (up to `timeout`) for the listening port; 0 when the process exits or never listens.
  int wait_listening(std::chrono::seconds timeout = std::chrono::seconds(60)) {
    static const std::regex listening(R"re("event":"listening".*"port":(\d+))re");
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      std::smatch match;
      const std::string text = log();
      if (std::regex_search(text, match, listening)) return port_ = std::stoi(match[1]);
      if (exited()) return 0;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return 0;
  }

  // Waits until GET /ready answers 200; false when the process exits or the time runs out.
  bool wait_ready(std::chrono::seconds timeout = std::chrono::seconds(120)) {
    if (port_ == 0 && wait_listening(timeout) == 0) return false;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    httplib::Client client("127.0.0.1", port_);
    while (std::chrono::steady_clock::now() < deadline) {
      if (auto response = client.Get("/ready"); response && response->status == 200) return true;
      if (exited()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string log() const { return read_file(log_path_); }
  void signal(int number) { ::kill(pid_, number); }

  bool exited() {
    if (exited_) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    return exited_;
  }
  // Waits for the process to end; its exit code (128 + signal when killed), -1 on timeout.
  int wait_exit(std::chrono::seconds timeout = std::chrono::seconds(60)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!exited()) {
      if (std::chrono::steady_clock::now() > deadline) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return exit_code_;
  }

 private:
  std::filesystem::path log_path_;
  pid_t pid_ = -1;
  int port_ = 0;
  bool exited_ = false;
  int exit_code_ = -1;
};

}  // namespace memembed::testing
