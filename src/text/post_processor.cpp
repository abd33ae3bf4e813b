#include "post_processor.h"

#include "memembed/error.h"

#include <algorithm>
#include <cstdint>

namespace memembed::text {

size_t Template::added(bool pair) const {
  size_t count = 0;
  for (const Item& item : pair ? pair_ : single_) {
    if (item.kind == Item::Kind::Special) count += item.ids.size();
  }
  return count;
}

void Template::apply(const std::vector<TokenId>& a, const std::vector<TokenId>* b,
                     std::vector<TokenId>& out) const {
  for (const Item& item : b ? pair_ : single_) {
    switch (item.kind) {
      case Item::Kind::Special: out.insert(out.end(), item.ids.begin(), item.ids.end()); break;
      case Item::Kind::SequenceA: out.insert(out.end(), a.begin(), a.end()); break;
      case Item::Kind::SequenceB:
        if (b) out.insert(out.end(), b->begin(), b->end());
        break;
    }
  }
}

namespace {

using Item = Template::Item;

Item special(TokenId id) { return Item{Item::Kind::Special, {id}}; }
Item sequence(bool second) { return Item{second ? Item::Kind::SequenceB : Item::Kind::SequenceA, {}}; }

// A ["token", id] pair of BertProcessing / RobertaProcessing.
TokenId token_pair_id(const Json& config, const char* name, const JsonPlace& place) {
  const Json& value = require_field(config, name, place);
  if (!value.is_array() || value.size() != 2 || !value[1].is_number_integer()) {
    throw invalid_input("{} must be a [token, id] pair", place.field(name).describe());
  }
  return value[1].get<TokenId>();
}

std::vector<Item> parse_items(const Json& list, const JsonPlace& place, const Json& special_tokens,
                              const std::function<std::optional<TokenId>(const std::string&)>& token_id) {
  if (!list.is_array()) throw invalid_input("{} must be an array", place.describe());
  std::vector<Item> items;
  for (size_t i = 0; i < list.size(); ++i) {
    const JsonPlace at = place.index(i);
    const Json& entry = require_object(list[i], at);
    if (entry.contains("Sequence")) {
      const std::string id = string_field(entry["Sequence"], "id", at.field("Sequence"));
      if (id != "A" && id != "B") {
        throw invalid_input("{}: sequence id must be \"A\" or \"B\", got \"{}\"", at.describe(), id);
      }
      items.push_back(sequence(id == "B"));
    } else if (entry.contains("SpecialToken")) {
      const std::string name = string_field(entry["SpecialToken"], "id", at.field("SpecialToken"));
      Item item{Item::Kind::Special, {}};
      if (special_tokens.is_object() && special_tokens.contains(name)) {
        // Looked up only after checking: nlohmann's const operator[] on a missing key reads freed
        // memory (found by fuzz_tokenizer_json).
        const Json& token = special_tokens[name];
        if (!token.is_object() || !token.contains("ids") || !token["ids"].is_array()) {
          throw invalid_input("{}: special_tokens[\"{}\"].ids must be an array", place.describe(), name);
        }
        for (const Json& id : token["ids"]) {
          if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX) {
            throw invalid_input("{}: special_tokens[\"{}\"].ids must hold token ids (0 to 2^31-1), got {}",
                                place.describe(), name, id.dump());
          }
          item.ids.push_back(static_cast<TokenId>(id.get<int64_t>()));
        }
      } else if (auto id = token_id(name)) {
        item.ids.push_back(*id);
      } else {
        throw invalid_input("{}: special token \"{}\" is neither in special_tokens nor in the vocabulary",
                            at.describe(), name);
      }
      items.push_back(std::move(item));
    } else {
      throw invalid_input("{}: expected a \"Sequence\" or \"SpecialToken\" entry", at.describe());
    }
  }
  return items;
}

}  // namespace

Template make_template(const Json& config, const JsonPlace& place,
                       const std::function<std::optional<TokenId>(const std::string&)>& token_id) {
  if (config.is_null()) return Template();
  const std::string type = type_field(config, place);
  if (type == "TemplateProcessing") {
    const Json empty = Json::object();
    const Json& special_tokens = config.contains("special_tokens") ? config["special_tokens"] : empty;
    return Template(parse_items(require_field(config, "single", place), place.field("single"),
                                special_tokens, token_id),
                    parse_items(require_field(config, "pair", place), place.field("pair"),
                                special_tokens, token_id));
  }
  if (type == "BertProcessing") {
    const TokenId cls = token_pair_id(config, "cls", place);
    const TokenId sep = token_pair_id(config, "sep", place);
    return Template({special(cls), sequence(false), special(sep)},
                    {special(cls), sequence(false), special(sep), sequence(true), special(sep)});
  }
  if (type == "RobertaProcessing") {
    const TokenId cls = token_pair_id(config, "cls", place);
    const TokenId sep = token_pair_id(config, "sep", place);
    return Template({special(cls), sequence(false), special(sep)},
                    {special(cls), sequence(false), special(sep), special(sep), sequence(true), special(sep)});
  }
  if (type == "ByteLevel") return Template();
  if (type == "Sequence") {
    // ByteLevel steps only touch offsets; at most one step may add tokens.
    const Json& list = require_field(config, "processors", place);
    if (!list.is_array()) throw invalid_input("{} must be an array", place.field("processors").describe());
    std::optional<Template> chosen;
    for (size_t i = 0; i < list.size(); ++i) {
      const JsonPlace at = place.field("processors").index(i);
      if (type_field(list[i], at) == "ByteLevel") continue;
      if (chosen) throw unsupported("{}: more than one token-adding post-processor in a Sequence", place.describe());
      chosen = make_template(list[i], at, token_id);
    }
    return chosen.value_or(Template());
  }
  throw unsupported("{}: unknown post-processor type \"{}\" (known: TemplateProcessing, BertProcessing, "
                    "RobertaProcessing, ByteLevel, Sequence)", place.describe(), type);
}

Encoding assemble(std::vector<TokenId> a, std::optional<std::vector<TokenId>> b,
                  const Template& post, const EncodeOptions& options) {
  const bool pair = b.has_value();
  const size_t added = options.add_special_tokens ? post.added(pair) : 0;
  Encoding encoding;
  encoding.num_tokens_untruncated = a.size() + (pair ? b->size() : 0) + added;

  if (options.max_length > 0 && encoding.num_tokens_untruncated > options.max_length) {
    if (options.max_length < added) {
      throw invalid_input("max_length {} cannot hold the {} special tokens this tokenizer adds",
                          options.max_length, added);
    }
    const size_t budget = options.max_length - added;
    if (!pair) {
      a.resize(budget);
    } else {
      // Hugging Face's longest_first: the shorter sequence keeps what it can, up to half.
      size_t n1 = a.size(), n2 = b->size();
      const bool swapped = n1 > n2;
      if (swapped) std::swap(n1, n2);
      n2 = n1 > budget ? n1 : std::max(n1, budget - n1);
      if (n1 + n2 > budget) {
        n1 = budget / 2;
        n2 = n1 + budget % 2;
      }
      if (swapped) std::swap(n1, n2);
      a.resize(std::min(a.size(), n1));
      b->resize(std::min(b->size(), n2));
    }
    encoding.truncated = true;
  }

  if (options.add_special_tokens) {
    encoding.ids.reserve(a.size() + (pair ? b->size() : 0) + added);
    post.apply(a, pair ? &*b : nullptr, encoding.ids);
  } else {
    encoding.ids = std::move(a);
    if (pair) encoding.ids.insert(encoding.ids.end(), b->begin(), b->end());
  }
  return encoding;
}

Encoding TemplatedTokenizer::encode(std::string_view text, const EncodeOptions& options) const {
  return assemble(content_ids(text), std::nullopt, post_, options);
}

Encoding TemplatedTokenizer::encode_pair(std::string_view first, std::string_view second,
                                         const EncodeOptions& options) const {
  return assemble(content_ids(first), content_ids(second), post_, options);
}

}  // namespace memembed::text
