// Each subcommand lives in its own cmd_<name>.cpp and registers itself on the root app here.
// Commands throw memembed::Error; main() maps it to a message and an exit code.
#pragma once

#include <CLI/CLI.hpp>

namespace memembed::cli {

// void add_<name>_command(CLI::App& app);  one per cmd_<name>.cpp
void add_embed_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_pull_command(CLI::App& app);

void add_eval_command(CLI::App& app);
void add_recommend_command(CLI::App& app);
void add_models_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);
void add_memory_command(CLI::App& app);
void add_serve_command(CLI::App& app);

}  // namespace memembed::cli
