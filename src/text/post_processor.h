// Post-processing: truncation and the special tokens wrapped around the content ids
// (tokenizer.json "post_processor"). TemplateProcessing, BertProcessing and RobertaProcessing all
// reduce to a template; ByteLevel adds nothing to ids.
#pragma once

#include "json_fields.h"

#include "memembed/text.h"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace memembed::text {

class Template {
 public:
  struct Item {
    enum class Kind { Special, SequenceA, SequenceB } kind;
    std::vector<TokenId> ids;  // for Special
  };

  Template() = default;  // adds nothing: A, or A B for a pair
  Template(std::vector<Item> single, std::vector<Item> pair)
      : single_(std::move(single)), pair_(std::move(pair)) {}

  // The number of special ids the template adds.
  size_t added(bool pair) const;
  void apply(const std::vector<TokenId>& a, const std::vector<TokenId>* b, std::vector<TokenId>& out) const;

 private:
  std::vector<Item> single_ = {Item{Item::Kind::SequenceA, {}}};
  std::vector<Item> pair_ = {Item{Item::Kind::SequenceA, {}}, Item{Item::Kind::SequenceB, {}}};
};

// `token_id` resolves special-token strings (BertProcessing lists ids itself).
Template make_template(const Json& config, const JsonPlace& place,
                       const std::function<std::optional<TokenId>(const std::string&)>& token_id);

// Truncates the content (Hugging Face's longest_first, from the right) so the result with its
// special tokens fits options.max_length, then applies the template when special tokens are on.
// Throws InvalidInput when max_length cannot even hold the special tokens.
Encoding assemble(std::vector<TokenId> a, std::optional<std::vector<TokenId>> b,
                  const Template& post, const EncodeOptions& options);

// The Tokenizer shape every algorithm shares: subclasses turn one text into content ids (added
// tokens, normalisation, the model); encode/encode_pair add truncation and the template.
class TemplatedTokenizer : public Tokenizer {
 public:
  Encoding encode(std::string_view text, const EncodeOptions& options) const final;
  Encoding encode_pair(std::string_view first, std::string_view second, const EncodeOptions& options) const final;

 protected:
  TemplatedTokenizer() = default;
  explicit TemplatedTokenizer(Template post) : post_(std::move(post)) {}

  virtual std::vector<TokenId> content_ids(std::string_view text) const = 0;

  Template post_;
};

}  // namespace memembed::text
