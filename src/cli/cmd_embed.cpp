// memembed embed: texts in (.jsonl "text" fields or plain lines), one embedding per line out.
#include "commands.h"
#include "endpoint_options.h"
#include "precision_option.h"
#include "memembed/embed.h"
#include "memembed/error.h"
#include "memembed/json_io.h"
#include "memembed/model.h"
#include "memembed/provider.h"

namespace memembed::cli {

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
  provider::RemoteOptions remote;
};

void run_embed(const EmbedArguments& args) {
  const std::vector<std::string> texts = read_texts(args.input);

  provider::ProviderOptions options;
  options.remote = args.remote;
  if (provider::is_remote_address(args.model)) {
    if (args.truncate_dim > 0 || args.max_seq_length > 0) {
      throw invalid_input("--truncate-dim and --max-seq-length apply to local models; an endpoint truncates "
                          "itself and takes --dimensions");
    }
  } else {
    model::configure_compute({args.threads});
    options.local.max_batch_size = args.batch_size;
    options.local.max_batch_tokens = args.batch_tokens;
    options.local.max_seq_length = args.max_seq_length;
    options.local.truncate_dim = args.truncate_dim;
    options.local.precision = args.precision;
    announce_precision(args.precision);
  }
  const auto provider = provider::open_provider(args.model, options);
  const std::string prompt = provider::select_prompt(
      *provider, args.prompt_given ? std::optional<std::string>(args.prompt) : std::nullopt, args.prompt_name);
  embed::JsonlOutputOptions output;
  output.resume = args.resume;
  embed::embed_to_jsonl([&](const std::vector<std::string>& chunk) { return provider->embed(chunk, prompt); }, texts,
                        args.output, output);
}

}  // namespace

void add_embed_command(CLI::App& app) {
  auto args = std::make_shared<EmbedArguments>();
  CLI::App* command = app.add_subcommand("embed", "Embed texts with a sentence-transformers model or an OpenAI-compatible endpoint");
  command->add_option("--model", args->model, "Model directory, ORG/NAME from the local cache, or openai:URL#MODEL")
      ->required();
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
  add_endpoint_options(command, args->remote);
  command->callback([args] { run_embed(*args); });
}

}  // namespace memembed::cli
