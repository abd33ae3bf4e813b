#include "sentencepiece_model.h"

#include "added_tokens.h"
#include "post_processor.h"
#include "sentencepiece_library.h"
#include "unicode.h"

#include "memembed/error.h"

#include <fmt/format.h>

#include <unordered_map>

namespace memembed::text {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";  // U+2581, SentencePiece's space

class SentencePieceTokenizer final : public TemplatedTokenizer {
 public:
  SentencePieceTokenizer(const fs::path& file, const TokenizerConfig& config) {
    processor_ = SpmProcessor::load(file);
    piece_count_ = processor_->piece_size();

    // Tokens beyond the model: T5's <extra_id_N> sentinels, then whatever added_tokens_decoder lists.
    std::vector<AddedToken> added;
    if (config.extra_ids && *config.extra_ids > 0) {
      const int64_t count = *config.extra_ids;
      for (int64_t i = 0; i < count; ++i) {
        AddedToken token;
        token.id = static_cast<TokenId>(piece_count_ + count - 1 - i);
        token.content = fmt::format("<extra_id_{}>", i);
        added.push_back(std::move(token));
      }
    }
    for (const AddedToken& token : config.added_tokens) added.push_back(token);
    for (const AddedToken& token : added) {
      if (token.id >= piece_count_) extra_pieces_[token.id] = token.content;
    }

    // Named special tokens are matched in the text too, with the ids the model gives them.
    auto add_named = [&](const std::optional<std::string>& text) {
      if (!text) return;
      if (auto id = token_to_id(*text)) {
        AddedToken token;
        token.id = *id;
        token.content = *text;
        added.push_back(std::move(token));
      }
    };
    add_named(config.bos_token);
    add_named(config.eos_token);
    add_named(config.unk_token);
    add_named(config.pad_token);
    add_named(config.sep_token);
    add_named(config.cls_token);
    add_named(config.mask_token);
    for (const std::string& text : config.additional_special_tokens) add_named(text);
    for (AddedToken& token : added) token.normalized = false;  // SentencePiece normalises inside
    specials_ = AddedVocabulary(std::move(added), nullptr);

    auto resolve = [&](const std::optional<std::string>& text, int model_id) -> std::optional<TokenId> {
      if (text) return token_to_id(*text);
      if (model_id >= 0) return model_id;
      return std::nullopt;
    };
    const std::optional<TokenId> bos = resolve(config.bos_token, processor_->bos_id());
    const std::optional<TokenId> eos = resolve(config.eos_token, processor_->eos_id());
    const bool t5 = config.tokenizer_class && config.tokenizer_class->rfind("T5Tokenizer", 0) == 0;
    const bool known_config = config.add_bos_token || config.add_eos_token || config.tokenizer_class;
    bool add_bos = config.add_bos_token.value_or(known_config ? !t5 : processor_->bos_id() >= 0);
    bool add_eos = config.add_eos_token.value_or(known_config ? t5 : processor_->bos_id() < 0);
    if (add_bos && !bos) throw invalid_input("{}: add_bos_token is set but the model has no BOS token", file.string());
    if (add_eos && !eos) throw invalid_input("{}: add_eos_token is set but the model has no EOS token", file.string());

    using Item = Template::Item;
    std::vector<Item> single;
    if (add_bos) single.push_back(Item{Item::Kind::Special, {*bos}});
    single.push_back(Item{Item::Kind::SequenceA, {}});
    if (add_eos) single.push_back(Item{Item::Kind::Special, {*eos}});
    std::vector<Item> pair = single;
    for (const Item& item : single) {
      pair.push_back(item.kind == Item::Kind::SequenceA ? Item{Item::Kind::SequenceB, {}} : item);
    }
    post_ = Template(std::move(single), std::move(pair));
  }

  std::string decode(const std::vector<TokenId>& ids, bool skip_special_tokens) const override {
    std::string out;
    std::vector<int> run;
    bool after_special = false;
    auto flush = [&] {
      if (run.empty()) return;
      const std::string text = processor_->decode(run);
      // SentencePiece drops the leading space of a run as the dummy prefix; after a special
      // token that space is real text (Hugging Face shows "<s> Hello").
      if (after_special && processor_->id_to_piece(run.front()).rfind(kSpaceSymbol, 0) == 0) out += ' ';
      out += text;
      run.clear();
    };
    for (TokenId id : ids) {
      if (id < 0) continue;
      const bool in_model = id < piece_count_;
      const AddedToken* added = specials_.find_id(id);
      const bool special = !in_model || processor_->is_control(id) || (added && added->special);
      if (!special) {
        if (skip_special_tokens && processor_->is_unknown(id)) continue;
        run.push_back(id);
        continue;
      }
      if (skip_special_tokens) continue;
      std::optional<std::string> text = id_to_token(id);
      if (!text) continue;
      flush();
      out += *text;
      after_special = true;
    }
    flush();
    return out;
  }

  bool is_special(TokenId id) const override {
    if (id < 0) return false;
    const AddedToken* added = specials_.find_id(id);
    if (added != nullptr) return added->special;
    return id < piece_count_ && (processor_->is_control(id) || processor_->is_unknown(id));
  }

  size_t vocab_size() const override {
    size_t size = static_cast<size_t>(piece_count_);
    for (const auto& [id, text] : extra_pieces_) size = std::max(size, static_cast<size_t>(id) + 1);
    return size;
  }

  std::optional<TokenId> token_to_id(std::string_view token) const override {
    for (const auto& [id, text] : extra_pieces_) {
      if (text == token) return id;
    }
    const int id = processor_->piece_to_id(token);
    if (id < 0 || id >= piece_count_) return std::nullopt;
    // Unknown pieces map to the unknown id; only the unknown piece itself really has it.
    if (id == processor_->unk_id() && processor_->id_to_piece(id) != token) return std::nullopt;
    return id;
  }

  std::optional<std::string> id_to_token(TokenId id) const override {
    auto it = extra_pieces_.find(id);
    if (it != extra_pieces_.end()) return it->second;
    if (id < 0 || id >= piece_count_) return std::nullopt;
    return processor_->id_to_piece(id);
  }

 private:
  std::vector<TokenId> content_ids(std::string_view text) const override {
    const size_t bad = unicode::find_invalid_utf8(text);
    if (bad != std::string_view::npos) {
      throw invalid_input("text is not valid UTF-8 (ill-formed sequence at byte {})", bad);
    }
    std::vector<TokenId> ids;
    std::vector<AddedVocabulary::Split> splits;
    specials_.split_raw(text, splits);
    std::vector<int> piece_ids;
    for (const auto& split : splits) {
      if (split.id) {
        ids.push_back(*split.id);
        continue;
      }
      piece_ids.clear();
      processor_->encode(split.text, piece_ids);
      ids.insert(ids.end(), piece_ids.begin(), piece_ids.end());
    }
    return ids;
  }

  std::unique_ptr<SpmProcessor> processor_;
  int piece_count_ = 0;
  std::unordered_map<TokenId, std::string> extra_pieces_;
  AddedVocabulary specials_;
};

}  // namespace

std::unique_ptr<Tokenizer> load_sentencepiece(const fs::path& file, const TokenizerConfig& config) {
  return std::make_unique<SentencePieceTokenizer>(file, config);
}

}  // namespace memembed::text
