// The libFuzzer entry point of fuzz_<MEMEMBED_FUZZ_NAME>: the one registered target of the binary.
#include "fuzz_target.h"

namespace {

memembed::fuzz::TargetFunction target() {
  static const memembed::fuzz::TargetFunction function = memembed::fuzz::targets().at(MEMEMBED_FUZZ_NAME);
  return function;
}

}  // namespace

// One empty input before fuzzing starts: a target's one-time setup (the reference tokenizers or
// model weights it loads on first use) then does not count against libFuzzer's per-input -timeout.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  target()(std::string_view());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  target()(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
