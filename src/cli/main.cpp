#include "commands.h"
#include "memembed/error.h"
#include "memembed/progress.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

namespace {

// Exit codes by error category; documented in README.md.
int exit_code_for(memembed::ErrorKind kind) {
  switch (kind) {
    case memembed::ErrorKind::InvalidInput: return 3;
    case memembed::ErrorKind::NotFound: return 4;
    case memembed::ErrorKind::Unsupported: return 5;
    case memembed::ErrorKind::Io: return 6;
    case memembed::ErrorKind::Network: return 7;
    case memembed::ErrorKind::Internal: return 70;
  }
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"memembed: embedding models for agent memory (evaluate, select, fine-tune, serve)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "memembed 0.1.0");
  bool quiet = false;
  bool progress = false;
  app.add_flag("-q,--quiet", quiet, "No progress output on stderr");
  app.add_flag("--progress", progress, "Progress output on stderr even when it is not a terminal");
  app.parse_complete_callback([&] {
    if (quiet) memembed::Progress::set_enabled(false);
    else if (progress) memembed::Progress::set_enabled(true);
  });

  // One line per subcommand, in the order `memembed --help` lists them.
  memembed::cli::add_embed_command(app);
  memembed::cli::add_bench_command(app);
  memembed::cli::add_pull_command(app);
  memembed::cli::add_eval_command(app);
  memembed::cli::add_recommend_command(app);
  memembed::cli::add_models_command(app);
  memembed::cli::add_tokenize_command(app);
  memembed::cli::add_memory_command(app);
  memembed::cli::add_serve_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const memembed::Error& e) {
    std::fprintf(stderr, "memembed: %s: %s\n", memembed::to_string(e.kind()), e.what());
    return exit_code_for(e.kind());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "memembed: internal error: %s\n", e.what());
    return exit_code_for(memembed::ErrorKind::Internal);
  }
  return 0;
}
