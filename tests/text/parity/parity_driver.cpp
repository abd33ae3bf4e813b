// Writes, for each text of a .jsonl file, our ids and decodings in the same JSON shape as
// hf_encode.js, so parity.sh can compare the two line by line.
#include "memembed/json_io.h"
#include "memembed/text.h"

#include <fstream>
#include <iostream>

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: parity_driver TOKENIZER TEXTS.jsonl OUT.jsonl ADD_SPECIAL(0|1)\n";
    return 2;
  }
  using memembed::Json;
  const auto tokenizer = memembed::text::load_tokenizer(argv[1]);
  const bool special = std::string(argv[4]) == "1";
  std::ofstream out(argv[3]);
  size_t index = 0;
  memembed::for_each_jsonl(argv[2], [&](const Json& line, size_t) {
    Json record{{"index", index++}};
    try {
      const auto ids = tokenizer->encode(line.at("text").get<std::string>(), {special, 0}).ids;
      record["ids"] = ids;
      record["decoded"] = tokenizer->decode(ids, false);
      record["decoded_skip"] = tokenizer->decode(ids, true);
    } catch (const std::exception& e) {
      record["error"] = e.what();
    }
    out << record.dump(-1, ' ', false, Json::error_handler_t::replace) << '\n';
  });
  return 0;
}
