#include "tokenizer_json.h"

#include "added_tokens.h"
#include "bpe.h"
#include "decoder.h"
#include "json_fields.h"
#include "model.h"
#include "normalizer.h"
#include "post_processor.h"
#include "pre_tokenizer.h"
#include "unicode.h"
#include "word_level.h"
#include "wordpiece.h"

#include "memembed/error.h"

#include <cstdint>
#include <unordered_map>

namespace memembed::text {

namespace {

Vocab read_vocab(const Json& model, const JsonPlace& place) {
  const Json& vocab = require_field(model, "vocab", place);
  if (!vocab.is_object()) {
    throw invalid_input("{} must be an object mapping tokens to ids, got {}", place.field("vocab").describe(),
                        vocab.type_name());
  }
  std::vector<std::pair<std::string, TokenId>> entries;
  entries.reserve(vocab.size());
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 || it.value().get<int64_t>() > INT32_MAX) {
      throw invalid_input("{}[\"{}\"] must be an integer id from 0 to 2^31-1, got {}", place.field("vocab").describe(),
                          it.key(), it.value().dump());
    }
    entries.emplace_back(it.key(), static_cast<TokenId>(it.value().get<int64_t>()));
  }
  return Vocab(std::move(entries));
}

std::vector<std::pair<std::string, std::string>> read_merges(const Json& model, const JsonPlace& place) {
  const Json& merges = require_field(model, "merges", place);
  const JsonPlace at = place.field("merges");
  if (!merges.is_array()) throw invalid_input("{} must be an array", at.describe());
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const Json& merge = merges[i];
    if (merge.is_string()) {
      // The legacy form "left right"; tokens never contain a plain space.
      const std::string& text = merge.get_ref<const std::string&>();
      const size_t space = text.find(' ');
      if (space == std::string::npos) {
        throw invalid_input("{}: \"{}\" is not two tokens separated by a space", at.index(i).describe(), text);
      }
      out.emplace_back(text.substr(0, space), text.substr(space + 1));
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
      out.emplace_back(merge[0].get<std::string>(), merge[1].get<std::string>());
    } else {
      throw invalid_input("{} must be a \"left right\" string or a [left, right] pair", at.index(i).describe());
    }
  }
  return out;
}

// Early tokenizer.json files have no model.type; the fields tell the kind apart.
std::string infer_model_type(const Json& model, const JsonPlace& place) {
  if (auto type = optional_string_field(model, "type", place)) return *type;
  if (model.contains("merges")) return "BPE";
  if (model.contains("vocab") && model["vocab"].is_array()) return "Unigram";
  if (model.contains("continuing_subword_prefix") || model.contains("max_input_chars_per_word")) {
    return "WordPiece";
  }
  if (model.contains("vocab") && model.contains("unk_token")) return "WordLevel";
  throw invalid_input("{}: model has no \"type\" and its fields match no known model "
                      "(WordPiece, BPE, WordLevel)", place.describe());
}

std::unique_ptr<Model> make_model(const Json& model, const JsonPlace& place) {
  require_object(model, place);
  const std::string type = infer_model_type(model, place);
  if (type == "WordPiece") {
    WordPieceConfig config;
    config.unk_token = optional_string_field(model, "unk_token", place).value_or("[UNK]");
    config.continuing_subword_prefix =
        optional_string_field(model, "continuing_subword_prefix", place).value_or("##");
    if (model.contains("max_input_chars_per_word") && !model["max_input_chars_per_word"].is_null()) {
      const int64_t limit = integer_field(model, "max_input_chars_per_word", place);
      if (limit < 0) throw invalid_input("{} must not be negative", place.field("max_input_chars_per_word").describe());
      config.max_input_chars_per_word = static_cast<size_t>(limit);
    }
    return std::make_unique<WordPiece>(read_vocab(model, place), config);
  }
  if (type == "BPE") {
    BpeConfig config;
    config.unk_token = optional_string_field(model, "unk_token", place);
    config.continuing_subword_prefix = optional_string_field(model, "continuing_subword_prefix", place);
    config.end_of_word_suffix = optional_string_field(model, "end_of_word_suffix", place);
    config.fuse_unk = bool_field(model, "fuse_unk", place, false);
    config.byte_fallback = bool_field(model, "byte_fallback", place, false);
    config.ignore_merges = bool_field(model, "ignore_merges", place, false);
    if (model.contains("dropout") && model["dropout"].is_number() && model["dropout"].get<double>() > 0) {
      throw unsupported("{}: BPE dropout is for training and is not supported", place.field("dropout").describe());
    }
    return std::make_unique<Bpe>(read_vocab(model, place), read_merges(model, place), config);
  }
  if (type == "WordLevel") {
    return std::make_unique<WordLevel>(read_vocab(model, place),
                                       optional_string_field(model, "unk_token", place).value_or("<unk>"));
  }
  throw unsupported("{}: unknown model type \"{}\" (known: WordPiece, BPE, WordLevel)",
                    place.field("type").describe(), type);
}

std::vector<AddedToken> read_added_tokens(const Json& document, const JsonPlace& file) {
  std::vector<AddedToken> tokens;
  if (!document.contains("added_tokens") || document["added_tokens"].is_null()) return tokens;
  const JsonPlace place = file.field("added_tokens");
  const Json& list = document["added_tokens"];
  if (!list.is_array()) throw invalid_input("{} must be an array", place.describe());
  for (size_t i = 0; i < list.size(); ++i) {
    const JsonPlace at = place.index(i);
    const Json& entry = require_object(list[i], at);
    AddedToken token;
    const int64_t id = integer_field(entry, "id", at);
    if (id < 0) throw invalid_input("{} must not be negative", at.field("id").describe());
    token.id = static_cast<TokenId>(id);
    token.content = string_field(entry, "content", at);
    token.special = bool_field(entry, "special", at, false);
    token.single_word = bool_field(entry, "single_word", at, false);
    token.lstrip = bool_field(entry, "lstrip", at, false);
    token.rstrip = bool_field(entry, "rstrip", at, false);
    token.normalized = bool_field(entry, "normalized", at, !token.special);
    tokens.push_back(std::move(token));
  }
  return tokens;
}

// Hugging Face does not trust the ids written next to added tokens: each token takes its id in
// the model's vocabulary, or else the next id after the vocabulary and the tokens added so far.
// Consistent files keep their ids; inconsistent ones get the ids Hugging Face would use.
void assign_added_token_ids(std::vector<AddedToken>& tokens, const Model& model) {
  std::unordered_map<std::string, TokenId> assigned;
  std::optional<TokenId> highest;
  const auto model_size = static_cast<TokenId>(model.vocab_size());
  for (AddedToken& token : tokens) {
    if (token.content.empty()) continue;
    TokenId id;
    if (auto it = assigned.find(token.content); it != assigned.end()) {
      id = it->second;
    } else if (auto in_model = model.token_to_id(token.content)) {
      id = *in_model;
    } else if (!highest) {
      id = model_size;
    } else {
      id = *highest >= model_size || model_size == 0 ? *highest + 1 : model_size;
    }
    token.id = id;
    assigned[token.content] = id;
    highest = highest ? std::max(*highest, id) : id;
  }
}

class PipelineTokenizer final : public TemplatedTokenizer {
 public:
  PipelineTokenizer(std::unique_ptr<Normalizer> normalizer, std::unique_ptr<PreTokenizer> pre_tokenizer,
                    std::unique_ptr<Model> model, Template post, std::unique_ptr<Decoder> decoder,
                    std::vector<AddedToken> added)
      : TemplatedTokenizer(std::move(post)),
        normalizer_(std::move(normalizer)),
        pre_tokenizer_(std::move(pre_tokenizer)),
        model_(std::move(model)),
        decoder_(std::move(decoder)),
        added_(std::move(added), normalizer_.get()) {
    extra_vocab_ = 0;
    for (const AddedToken& token : added_.tokens()) {
      if (model_->id_to_token(token.id) == nullptr) ++extra_vocab_;
    }
  }

  std::string decode(const std::vector<TokenId>& ids, bool skip_special_tokens) const override {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (TokenId id : ids) {
      if (const AddedToken* added = added_.find_id(id)) {
        if (!(skip_special_tokens && added->special)) tokens.push_back(added->decoded);
      } else if (const std::string* token = model_->id_to_token(id)) {
        tokens.push_back(*token);
      }
    }
    if (decoder_) return decoder_->decode(std::move(tokens));
    std::string joined;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0) joined += ' ';
      joined += tokens[i];
    }
    return joined;
  }

  bool is_special(TokenId id) const override {
    const AddedToken* added = added_.find_id(id);
    return added != nullptr && added->special;
  }

  size_t vocab_size() const override { return model_->vocab_size() + extra_vocab_; }

  std::optional<TokenId> token_to_id(std::string_view token) const override {
    if (const AddedToken* added = added_.find_content(token)) return added->id;
    return model_->token_to_id(token);
  }

  std::optional<std::string> id_to_token(TokenId id) const override {
    if (const AddedToken* added = added_.find_id(id)) return added->content;
    if (const std::string* token = model_->id_to_token(id)) return *token;
    return std::nullopt;
  }

 private:
  std::vector<TokenId> content_ids(std::string_view text) const override {
    const size_t bad = unicode::find_invalid_utf8(text);
    if (bad != std::string_view::npos) {
      throw invalid_input("text is not valid UTF-8 (ill-formed sequence at byte {})", bad);
    }
    std::vector<TokenId> ids;
    std::vector<AddedVocabulary::Split> raw_splits, normalized_splits;
    std::vector<Piece> pieces;
    bool at_start = true;
    added_.split_raw(text, raw_splits);
    for (const auto& raw : raw_splits) {
      const bool raw_at_start = at_start && raw.text.data() == text.data();
      at_start = false;
      if (raw.id) {
        ids.push_back(*raw.id);
        continue;
      }
      bool start_moved = false;
      const std::string normalized =
          normalizer_ ? normalizer_->apply(raw.text, start_moved) : std::string(raw.text);
      normalized_splits.clear();
      added_.split_normalized(normalized, normalized_splits);
      for (const auto& split : normalized_splits) {
        if (split.id) {
          ids.push_back(*split.id);
          continue;
        }
        pieces.clear();
        pieces.push_back(Piece{std::string(split.text),
                               raw_at_start && !start_moved && split.text.data() == normalized.data()});
        if (pre_tokenizer_) pre_tokenizer_->pre_tokenize(pieces);
        for (const Piece& piece : pieces) model_->tokenize(piece.text, ids);
      }
    }
    return ids;
  }

  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Decoder> decoder_;
  AddedVocabulary added_;
  size_t extra_vocab_ = 0;
};

void read_padding(const Json& document, const JsonPlace& file, TokenizerJsonPadding& padding) {
  if (!document.contains("padding") || !document["padding"].is_object()) return;
  const JsonPlace place = file.field("padding");
  const Json& config = document["padding"];
  if (config.contains("pad_id") && config["pad_id"].is_number_integer()) {
    padding.pad_id = config["pad_id"].get<TokenId>();
  }
  if (auto direction = optional_string_field(config, "direction", place)) {
    if (*direction == "Left") padding.side = PaddingSide::Left;
    else if (*direction == "Right") padding.side = PaddingSide::Right;
    else throw invalid_input("{}: unknown direction \"{}\" (known: Left, Right)", place.describe(), *direction);
  }
}

}  // namespace

std::unique_ptr<Tokenizer> make_tokenizer_from_json(const Json& document, const std::string& name,
                                                    TokenizerJsonPadding* padding) {
  const JsonPlace file{name, ""};
  require_object(document, file);
  std::unique_ptr<Model> model = make_model(require_field(document, "model", file), file.field("model"));
  const Json null_json;
  auto section = [&](const char* key) -> const Json& {
    auto it = document.find(key);
    return it == document.end() ? null_json : *it;
  };
  std::unique_ptr<Normalizer> normalizer = make_normalizer(section("normalizer"), file.field("normalizer"));
  std::unique_ptr<PreTokenizer> pre_tokenizer =
      make_pre_tokenizer(section("pre_tokenizer"), file.field("pre_tokenizer"));
  std::unique_ptr<Decoder> decoder = make_decoder(section("decoder"), file.field("decoder"));
  std::vector<AddedToken> added = read_added_tokens(document, file);
  assign_added_token_ids(added, *model);

  const Model& model_ref = *model;
  auto token_id = [&](const std::string& token) -> std::optional<TokenId> {
    for (const AddedToken& a : added) {
      if (a.content == token) return a.id;
    }
    return model_ref.token_to_id(token);
  };
  Template post = make_template(section("post_processor"), file.field("post_processor"), token_id);
  if (padding) read_padding(document, file, *padding);
  return std::make_unique<PipelineTokenizer>(std::move(normalizer), std::move(pre_tokenizer), std::move(model),
                                             std::move(post), std::move(decoder), std::move(added));
}

std::unique_ptr<Tokenizer> load_tokenizer_json(const std::filesystem::path& file, TokenizerJsonPadding* padding) {
  return make_tokenizer_from_json(read_json_file(file), file.string(), padding);
}

}  // namespace memembed::text
