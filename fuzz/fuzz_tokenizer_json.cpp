// tokenizer.json: normalizers, pre-tokenizers (split regexes included), models (WordPiece, BPE,
// WordLevel), added tokens, post-processors, decoders; a tokenizer that loads also tokenises.
#include "fuzz_target.h"
#include "memembed/text.h"

MEMEMBED_FUZZ_TARGET(tokenizer_json) {
  using namespace memembed;
  fuzz::refusing_bad_input([&] {
    const auto tokenizer = text::load_tokenizer(fuzz::write_input(input, "tokenizer.json"));
    for (const char* text : {"Hello world! naïve café 東京 123", "", "  a\tb\n", "<s>[CLS] x</s>"}) {
      const auto ids = tokenizer->encode(text).ids;
      tokenizer->encode(text, {true, 4});
      tokenizer->encode_pair(text, "second", {true, 8});
      tokenizer->decode(ids, true);
      tokenizer->decode(ids, false);
    }
  });
}
