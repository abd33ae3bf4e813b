// safetensors files: header length, JSON header, dtypes, shapes, offsets; every tensor the header
// admits is read.
#include "fuzz_target.h"
#include "safetensors.h"

MEMEMBED_FUZZ_TARGET(safetensors) {
  using namespace memembed;
  fuzz::refusing_bad_input([&] {
    const model::SafetensorsFile file(fuzz::write_input(input, "model.safetensors"));
    for (const auto& entry : file.tensors()) {
      fuzz::refusing_bad_input([&] { file.read_float32(entry.second); });
    }
  });
}
