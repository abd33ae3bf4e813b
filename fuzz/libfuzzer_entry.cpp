// The libFuzzer entry point of fuzz_<MEMEMBED_FUZZ_NAME>: the one registered target of the binary.
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const memembed::fuzz::TargetFunction target = memembed::fuzz::targets().at(MEMEMBED_FUZZ_NAME);
  target(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
