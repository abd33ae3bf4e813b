// load_tokenizer(): finds the tokenizer file of a model directory (or takes the file given), builds
// the matching implementation and applies the padding settings of the directory's config files.
#include "sentencepiece_model.h"
#include "tokenizer_config.h"
#include "tokenizer_json.h"

#include "memembed/error.h"
#include "memembed/text.h"

#include <fstream>

namespace memembed::text {

namespace fs = std::filesystem;

namespace {

constexpr const char* kSentencePieceNames[] = {"tokenizer.model", "spiece.model", "sentencepiece.bpe.model"};

// A file is taken as tokenizer.json when its name ends in .json or its first non-blank byte is '{'.
bool looks_like_json(const fs::path& file) {
  if (file.extension() == ".json") return true;
  if (file.extension() == ".model") return false;
  std::ifstream in(file, std::ios::binary);
  char c;
  while (in.get(c)) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    return c == '{';
  }
  return false;
}

}  // namespace

std::shared_ptr<const Tokenizer> load_tokenizer(const fs::path& path) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (!fs::exists(status)) throw not_found("{}: no such file or directory", path.string());

  fs::path file;
  fs::path directory;
  if (fs::is_directory(status)) {
    directory = path;
    if (fs::exists(path / "tokenizer.json")) {
      file = path / "tokenizer.json";
    } else {
      for (const char* name : kSentencePieceNames) {
        if (fs::exists(path / name)) {
          file = path / name;
          break;
        }
      }
    }
    if (file.empty()) {
      throw not_found("{}: no tokenizer found (looked for tokenizer.json, tokenizer.model, spiece.model, "
                      "sentencepiece.bpe.model)", path.string());
    }
  } else {
    file = path;
    directory = path.has_parent_path() ? path.parent_path() : fs::path(".");
  }

  // The side files next to the tokenizer file shape it whether a directory or the file was named.
  const TokenizerConfig config = read_tokenizer_config(directory);
  std::unique_ptr<Tokenizer> tokenizer;
  TokenizerJsonPadding json_padding;
  if (looks_like_json(file)) {
    tokenizer = load_tokenizer_json(file, &json_padding);
  } else {
    tokenizer = load_sentencepiece(file, config);
  }

  PaddingSide side = config.padding_side.value_or(json_padding.side.value_or(PaddingSide::Right));
  TokenId pad_id = json_padding.pad_id.value_or(0);
  if (config.pad_token) {
    // A pad token outside the vocabulary (Hugging Face would add it) keeps the fallback id.
    if (auto id = tokenizer->token_to_id(*config.pad_token)) pad_id = *id;
  }
  tokenizer->set_padding(pad_id, side);
  return tokenizer;
}

}  // namespace memembed::text
