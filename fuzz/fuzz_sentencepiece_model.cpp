// SentencePiece .model files (a protobuf), loaded through the shim module like any model's.
#include "fuzz_target.h"
#include "memembed/text.h"

MEMEMBED_FUZZ_TARGET(sentencepiece_model) {
  using namespace memembed;
  fuzz::refusing_bad_input([&] {
    const auto tokenizer = text::load_tokenizer(fuzz::write_input(input, "spm/tokenizer.model"));
    const auto ids = tokenizer->encode("Hello world, naïve café 東京").ids;
    tokenizer->decode(ids, true);
    tokenizer->encode("x y z", {true, 3});
  });
}
