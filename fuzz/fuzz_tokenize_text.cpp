// Arbitrary bytes as text through every kind of tokenizer: WordPiece (BERT), byte-level BPE
// (GPT-2, GPT-NeoX with its added whitespace tokens, Qwen3), SentencePiece BPE (Llama 2) and
// unigram (T5), WordLevel (a static embedding model).
#include "fuzz_target.h"
#include "memembed/text.h"

#include <memory>
#include <vector>

namespace {

const std::vector<std::shared_ptr<const memembed::text::Tokenizer>>& tokenizers() {
  static const auto loaded = [] {
    const auto shared = memembed::fuzz::shared_dir();
    std::vector<std::shared_ptr<const memembed::text::Tokenizer>> all;
    for (const auto& path : {shared / "tokenizers" / "bert-base-uncased", shared / "tokenizers" / "gpt2",
                             shared / "tokenizers" / "gpt-neox-20b", shared / "fixtures" / "qwen3-embed-tiny",
                             shared / "tokenizers" / "llama2", shared / "tokenizers" / "t5",
                             shared / "fixtures" / "static-glove-25d" / "0_StaticEmbedding"}) {
      all.push_back(memembed::text::load_tokenizer(path));
    }
    return all;
  }();
  return loaded;
}

}  // namespace

MEMEMBED_FUZZ_TARGET(tokenize_text) {
  using namespace memembed;
  for (const auto& tokenizer : tokenizers()) {
    fuzz::refusing_bad_input([&] {
      const auto ids = tokenizer->encode(input).ids;
      tokenizer->encode(input, {true, 16});
      tokenizer->decode(ids, true);
    });
  }
}
