// Running the real memembed binary from tests: exit code plus captured stdout and stderr.
#pragma once

#include "fixture_support.h"

#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace memembed::testing {

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `memembed <arguments>` through the shell (arguments are passed as written).
inline CommandResult run_memembed(const std::string& arguments) {
  const auto dir = std::filesystem::temp_directory_path();
  const auto out_path = dir / ("memembed_cli_out_" + std::to_string(::getpid()));
  const auto err_path = dir / ("memembed_cli_err_" + std::to_string(::getpid()));
  const std::string command = std::string(MEMEMBED_BINARY) + " " + arguments + " >" + out_path.string() + " 2>" +
                              err_path.string();
  const int status = std::system(command.c_str());
  CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = read_file(out_path);
  result.err = read_file(err_path);
  std::filesystem::remove(out_path);
  std::filesystem::remove(err_path);
  return result;
}

}  // namespace memembed::testing
