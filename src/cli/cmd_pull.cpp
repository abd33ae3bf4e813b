// memembed pull ORG/NAME: download a model repository from the Hugging Face hub (or a mirror) into
// the model cache, where `--model ORG/NAME` finds it offline.
//
// stdout gets only the model directory, so scripts can write `dir=$(memembed pull ORG/NAME)`;
// progress and the summary go to stderr.

#include "commands.h"

#include "memembed/hub.h"
#include "memembed/progress.h"

#include <fmt/format.h>

#include <cstdio>
#include <memory>

namespace memembed::cli {

namespace {

struct PullArgs {
  std::string repo;
  hub::PullOptions options;
  std::string dir;
  long retry_delay_ms = 1000;
};

void run_pull(const PullArgs& args) {
  hub::PullOptions options = args.options;
  options.dir = args.dir;
  options.retry_delay = std::chrono::milliseconds(args.retry_delay_ms);
  options.show_progress = Progress::enabled();
  const hub::PullResult result = hub::pull(args.repo, options);

  size_t fetched = 0;
  uint64_t total = 0;
  for (const hub::PulledFile& file : result.files) {
    fetched += file.downloaded ? 1 : 0;
    total += file.size;
  }
  std::fprintf(stderr, "%s\n",
               fmt::format("pulled {} revision {} (commit {}): {} files, {} bytes; {} downloaded "
                           "({} bytes), {} already present{}",
                           result.repo, result.revision, result.commit, result.files.size(), total,
                           fetched, result.bytes_downloaded, result.files.size() - fetched,
                           result.removed.empty()
                               ? std::string()
                               : fmt::format(", {} removed", result.removed.size()))
                   .c_str());
  std::printf("%s\n", result.dir.string().c_str());
}

}  // namespace

void add_pull_command(CLI::App& app) {
  auto args = std::make_shared<PullArgs>();
  CLI::App* command = app.add_subcommand(
      "pull",
      "Download a model repository from the Hugging Face hub into the model cache "
      "($MEMEMBED_CACHE, else $XDG_CACHE_HOME/memembed/models, else ~/.cache/memembed/models), "
      "where --model ORG/NAME finds it offline. Resumable and verified; prints the model directory");
  command->add_option("repo", args->repo, "Repository id, ORG/NAME")->required();
  command->add_option("--revision", args->options.revision, "Branch, tag or commit")
      ->capture_default_str();
  command->add_option("--dir", args->dir,
                      "Download into this directory instead of the cache (--model DIR uses it)");
  command->add_option("--endpoint", args->options.endpoint,
                      "Hub URL (default: $HF_ENDPOINT, else https://huggingface.co)");
  command->add_option("--token", args->options.token,
                      "Access token for private or gated models (default: $HF_TOKEN; prefer the "
                      "variable: options show in the process list)");
  command->add_option("--include", args->options.include,
                      "Only files matching this glob ('*' crosses '/'); repeatable")
      ->allow_extra_args(false);
  command->add_option("--exclude", args->options.exclude,
                      "Skip files matching this glob; repeatable")
      ->allow_extra_args(false);
  command->add_option("--retries", args->options.retries,
                      "Retries per request after a cut or stalled transfer")
      ->capture_default_str()
      ->check(CLI::Range(0, 100));
  command->add_option("--retry-delay-ms", args->retry_delay_ms,
                      "Pause before the first retry, doubled each time")
      ->capture_default_str()
      ->check(CLI::Range(0L, 600000L));
  command->add_option("--timeout", args->options.stall_timeout_s,
                      "Seconds without data before a transfer is abandoned (and retried)")
      ->capture_default_str()
      ->check(CLI::Range(1L, 3600L));
  command->add_option("--connect-timeout", args->options.connect_timeout_s,
                      "Seconds to open a connection")
      ->capture_default_str()
      ->check(CLI::Range(1L, 600L));
  command->callback([args] { run_pull(*args); });
}

}  // namespace memembed::cli
