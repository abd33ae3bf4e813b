#include "tokenizer_config.h"

#include "json_fields.h"

#include "memembed/error.h"

namespace memembed::text {

namespace fs = std::filesystem;

namespace {

// A special token is written either as a string or as {"content": "...", ...}.
std::optional<std::string> token_text(const Json& object, const char* key, const JsonPlace& place) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) return string_field(*it, "content", place.field(key));
  throw invalid_input("{} must be a string or an object with \"content\"", place.field(key).describe());
}

void read_special_tokens(const Json& object, const JsonPlace& place, TokenizerConfig& config) {
  struct Slot {
    const char* key;
    std::optional<std::string> TokenizerConfig::*field;
  };
  static const Slot slots[] = {
      {"bos_token", &TokenizerConfig::bos_token}, {"eos_token", &TokenizerConfig::eos_token},
      {"unk_token", &TokenizerConfig::unk_token}, {"pad_token", &TokenizerConfig::pad_token},
      {"sep_token", &TokenizerConfig::sep_token}, {"cls_token", &TokenizerConfig::cls_token},
      {"mask_token", &TokenizerConfig::mask_token},
  };
  for (const Slot& slot : slots) {
    if (auto value = token_text(object, slot.key, place)) config.*slot.field = *value;
  }
  auto extra = object.find("additional_special_tokens");
  if (extra != object.end() && extra->is_array()) {
    config.additional_special_tokens.clear();
    for (size_t i = 0; i < extra->size(); ++i) {
      const Json& entry = (*extra)[i];
      const JsonPlace at = place.field("additional_special_tokens").index(i);
      if (entry.is_string()) config.additional_special_tokens.push_back(entry.get<std::string>());
      else config.additional_special_tokens.push_back(string_field(entry, "content", at));
    }
  }
}

}  // namespace

TokenizerConfig read_tokenizer_config(const fs::path& directory) {
  TokenizerConfig config;
  const fs::path config_file = directory / "tokenizer_config.json";
  if (fs::exists(config_file)) {
    const Json json = read_json_file(config_file);
    const JsonPlace place{config_file.string(), ""};
    require_object(json, place);
    config.tokenizer_class = optional_string_field(json, "tokenizer_class", place);
    config.add_bos_token = optional_bool_field(json, "add_bos_token", place);
    config.add_eos_token = optional_bool_field(json, "add_eos_token", place);
    if (auto side = optional_string_field(json, "padding_side", place)) {
      if (*side == "left") config.padding_side = PaddingSide::Left;
      else if (*side == "right") config.padding_side = PaddingSide::Right;
      else throw invalid_input("{}: padding_side must be \"left\" or \"right\", got \"{}\"", place.describe(), *side);
    }
    if (json.contains("extra_ids") && json["extra_ids"].is_number_integer()) {
      config.extra_ids = json["extra_ids"].get<int64_t>();
    }
    read_special_tokens(json, place, config);
    auto decoder = json.find("added_tokens_decoder");
    if (decoder != json.end() && decoder->is_object()) {
      const JsonPlace at = place.field("added_tokens_decoder");
      for (auto it = decoder->begin(); it != decoder->end(); ++it) {
        const JsonPlace entry_place = at.field(it.key());
        AddedToken token;
        try {
          token.id = static_cast<TokenId>(std::stol(it.key()));
        } catch (const std::exception&) {
          throw invalid_input("{}: the key must be a token id", entry_place.describe());
        }
        token.content = string_field(it.value(), "content", entry_place);
        token.special = bool_field(it.value(), "special", entry_place, true);
        token.single_word = bool_field(it.value(), "single_word", entry_place, false);
        token.lstrip = bool_field(it.value(), "lstrip", entry_place, false);
        token.rstrip = bool_field(it.value(), "rstrip", entry_place, false);
        token.normalized = bool_field(it.value(), "normalized", entry_place, !token.special);
        config.added_tokens.push_back(std::move(token));
      }
    }
  }
  const fs::path map_file = directory / "special_tokens_map.json";
  if (fs::exists(map_file)) {
    const Json json = read_json_file(map_file);
    const JsonPlace place{map_file.string(), ""};
    require_object(json, place);
    read_special_tokens(json, place, config);
  }
  return config;
}

}  // namespace memembed::text
