// Running the real memembed binary from tests: exit code plus captured stdout and stderr.
#pragma once

#include "fixture_support.h"

#include <sys/wait.h>

#include <cstdlib>
#include <string>

namespace memembed::testing {

struct CommandResult {
  int exit_code = -1;  // -1 when the binary did not exit normally (a crash)
  std::string out;
  std::string err;
};

// `text` as one single-quoted shell word.
inline std::string quote(const std::string& text) {
  std::string quoted = "'";
  for (const char c : text) {
    if (c == '\'') quoted += "'\\''";
    else quoted.push_back(c);
  }
  return quoted + "'";
}

// Runs `memembed <arguments>` through the shell: `arguments` are shell words as written (quote
// paths that may hold spaces). `environment` is passed to env(1) before the binary: NAME=value
// assignments and `-u NAME` removals.
inline CommandResult run_memembed(const std::string& arguments, const std::string& environment = "") {
  CommandResult result;
#ifndef MEMEMBED_BINARY
  ADD_FAILURE() << "the memembed binary is not part of this build (skip the test without it)";
  return result;
#else
  const TempDir capture;
  const std::string command = "env " + environment + " " + quote(MEMEMBED_BINARY) + " " + arguments + " >" +
                              quote((capture / "stdout").string()) + " 2>" + quote((capture / "stderr").string());
  const int status = std::system(command.c_str());
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = read_file(capture / "stdout");
  result.err = read_file(capture / "stderr");
  return result;
#endif
}

}  // namespace memembed::testing
