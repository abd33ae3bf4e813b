// Decoders: turning token strings back into text (tokenizer.json "decoder"). Each step rewrites
// the list of token strings; the result is their concatenation.
#pragma once

#include "json_fields.h"

#include <memory>
#include <string>
#include <vector>

namespace memembed::text {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;

  std::string decode(std::vector<std::string> tokens) const;
};

// WordPiece, ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, BPEDecoder, Sequence.
// Null JSON gives nullptr (tokens are then joined with spaces).
std::unique_ptr<Decoder> make_decoder(const Json& config, const JsonPlace& place);

}  // namespace memembed::text
