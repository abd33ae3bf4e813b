// memembed embed: texts in (.jsonl "text" fields or plain lines), one embedding per line out.
#include "commands.h"
#include "precision_option.h"
#include "memembed/embed.h"
#include "memembed/error.h"
#include "memembed/json_io.h"
#include "memembed/model.h"
#include "memembed/progress.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>

namespace memembed::cli {

namespace fs = std::filesystem;

namespace {

struct EmbedArguments {
  std::string model;
  std::string input;
  std::string output;
  std::string prompt_name;
  std::string prompt;
  bool prompt_given = false;
  size_t truncate_dim = 0;
  size_t batch_size = 64;
  size_t batch_tokens = 8192;
  size_t max_seq_length = 0;
  int threads = 0;
  Precision precision = Precision::F32;
  bool resume = false;
};

// Inputs are embedded in chunks that are appended to the output as they finish, so an interrupted
// run can continue with --resume from the last complete line.
constexpr size_t kChunkTexts = 2048;

// Counts the complete lines already in `path` and cuts off a partial last line.
size_t complete_lines(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return 0;
  std::string line;
  size_t count = 0;
  std::streamoff good_end = 0;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // no trailing newline: the last write was cut short
    ++count;
    good_end = in.tellg();
  }
  in.close();
  fs::resize_file(path, static_cast<uintmax_t>(good_end));
  return count;
}

void run_embed(const EmbedArguments& args) {
  if (!args.prompt_name.empty() && args.prompt_given) {
    throw invalid_input("give either --prompt-name or --prompt, not both");
  }
  const std::vector<std::string> texts = read_texts(args.input);

  embed::EncoderOptions options;
  options.threads = args.threads;
  options.max_batch_size = args.batch_size;
  options.max_batch_tokens = args.batch_tokens;
  options.max_seq_length = args.max_seq_length;
  options.truncate_dim = args.truncate_dim;
  options.precision = args.precision;
  announce_precision(args.precision);
  const embed::Encoder encoder(args.model, options);
  // As sentence-transformers: an explicit prompt wins, else the model's default_prompt_name.
  std::string prompt = args.prompt;
  if (!args.prompt_name.empty()) {
    prompt = encoder.prompt(args.prompt_name);
  } else if (!args.prompt_given && encoder.model().default_prompt_name()) {
    prompt = encoder.prompt(*encoder.model().default_prompt_name());
  }

  const fs::path output(args.output);
  size_t start = 0;
  if (args.resume && fs::exists(output)) {
    start = complete_lines(output);
    if (start > texts.size()) {
      throw invalid_input("{} already has {} lines but {} has only {} texts; is it the output of another input?",
                          output.string(), start, args.input, texts.size());
    }
    if (start > 0) std::fprintf(stderr, "memembed: resuming after %zu embedded texts\n", start);
  }
  if (output.has_parent_path()) fs::create_directories(output.parent_path());
  std::ofstream out(output, std::ios::binary | (start > 0 ? std::ios::app : std::ios::trunc));
  if (!out) throw io_error("{}: cannot open for writing", output.string());

  Progress progress("embed", texts.size() - start, "texts");
  std::string buffer;
  for (size_t begin = start; begin < texts.size(); begin += kChunkTexts) {
    const size_t end = std::min(texts.size(), begin + kChunkTexts);
    const std::vector<std::string> chunk(texts.begin() + static_cast<std::ptrdiff_t>(begin),
                                         texts.begin() + static_cast<std::ptrdiff_t>(end));
    const embed::Embeddings embeddings = encoder.encode(chunk, prompt);
    buffer.clear();
    for (size_t r = 0; r < embeddings.rows; ++r) {
      // fmt prints the shortest decimal that reads back as the same float.
      fmt::format_to(std::back_inserter(buffer), "{{\"index\": {}, \"embedding\": [{}]}}\n", begin + r,
                     fmt::join(embeddings.row(r), embeddings.row(r) + embeddings.dim, ", "));
    }
    out << buffer;
    if (!out.flush()) throw io_error("{}: write failed", output.string());
    progress.advance(end - begin);
  }
  progress.finish();
}

}  // namespace

void add_embed_command(CLI::App& app) {
  auto args = std::make_shared<EmbedArguments>();
  CLI::App* command = app.add_subcommand("embed", "Embed texts with a sentence-transformers model directory");
  command->add_option("--model", args->model, "Model directory (or ORG/NAME from the local cache)")->required();
  command->add_option("--input", args->input, ".jsonl with a \"text\" field per line, or plain text (one per line)")
      ->required();
  command->add_option("--output", args->output, ".jsonl with {\"index\": i, \"embedding\": [...]} per input text")
      ->required();
  command->add_option("--prompt-name", args->prompt_name, "Prompt from config_sentence_transformers.json (e.g. query)");
  command->add_option("--prompt", args->prompt, "Literal prompt prefixed to every text")
      ->each([args](const std::string&) { args->prompt_given = true; });
  command->add_option("--truncate-dim", args->truncate_dim, "Matryoshka: keep the first N dimensions, re-normalised");
  command->add_option("--batch-size", args->batch_size, "Most texts per batch")->capture_default_str();
  command->add_option("--batch-tokens", args->batch_tokens, "Most padded tokens per batch")->capture_default_str();
  command->add_option("--max-seq-length", args->max_seq_length, "Truncate inputs to N tokens (default: the model's)");
  command->add_option("--threads", args->threads, "Compute threads (default: all cores)");
  add_precision_option(command, args->precision);
  command->add_flag("--resume", args->resume, "Continue an interrupted run, keeping the complete lines of --output");
  command->callback([args] { run_embed(*args); });
}

}  // namespace memembed::cli
