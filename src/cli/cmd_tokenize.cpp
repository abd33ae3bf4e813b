// `memembed tokenize`: token ids for each input text, as the model's tokenizer produces them.
#include "commands.h"
#include "memembed/error.h"
#include "memembed/json_io.h"
#include "memembed/progress.h"
#include "memembed/text.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <memory>
#include <string>

namespace memembed::cli {

namespace {

struct TokenizeOptions {
  std::string tokenizer;
  std::string input;
  std::string output;
  bool no_special_tokens = false;
  size_t max_length = 0;
};

void run_tokenize(const TokenizeOptions& options) {
  const auto tokenizer = text::load_tokenizer(options.tokenizer);
  const std::vector<std::string> texts = read_texts(options.input);
  text::EncodeOptions encode;
  encode.add_special_tokens = !options.no_special_tokens;
  encode.max_length = options.max_length;

  // Write to a temporary file and rename, so a failure never leaves a partial output behind.
  const std::string temporary = options.output + ".tmp";
  {
    auto out = open_for_write(temporary);
    Progress progress("tokenize", texts.size(), "texts");
    for (size_t i = 0; i < texts.size(); ++i) {
      text::Encoding encoding;
      try {
        encoding = tokenizer->encode(texts[i], encode);
      } catch (const Error& e) {
        throw Error(e.kind(), fmt::format("{}: text {} (0-based index): {}", options.input, i, e.what()));
      }
      out << fmt::format("{{\"index\": {}, \"ids\": [{}]}}\n", i, fmt::join(encoding.ids, ", "));
      progress.advance();
    }
    progress.finish();
    if (!out.flush()) throw io_error("{}: write failed", temporary);
  }
  std::error_code ec;
  std::filesystem::rename(temporary, options.output, ec);
  if (ec) throw io_error("{}: cannot rename into place: {}", options.output, ec.message());
}

}  // namespace

void add_tokenize_command(CLI::App& app) {
  auto options = std::make_shared<TokenizeOptions>();
  auto* command = app.add_subcommand(
      "tokenize", "Token ids of each input text (.jsonl with a \"text\" field, or one text per line)");
  command->add_option("--tokenizer", options->tokenizer,
                      "Model directory or tokenizer file (tokenizer.json, tokenizer.model, spiece.model)")
      ->required();
  command->add_option("--input", options->input, "Input texts: .jsonl with a \"text\" field, else one per line")
      ->required();
  command->add_option("--output", options->output, "Output .jsonl: {\"index\": i, \"ids\": [...]} per text")
      ->required();
  command->add_flag("--no-special-tokens", options->no_special_tokens,
                    "Leave out the special tokens the tokenizer adds ([CLS]/[SEP], BOS/EOS, ...)");
  command->add_option("--max-length", options->max_length,
                      "Truncate to this many ids, special tokens included (0: no limit)");
  command->callback([options] { run_tokenize(*options); });
}

}  // namespace memembed::cli
