// One fuzz target = one function over arbitrary bytes that feeds them to a parser the way
// untrusted input reaches it (a file on disk, a JSON answer, a text to tokenise).
//
// A target returns normally for every input: memembed::Error is the expected answer to bad input
// and is swallowed; anything else escaping (a std::exception from a library we forgot to wrap, a
// crash, a sanitizer report, a hang) is a finding. The same function is compiled twice:
//   - into a libFuzzer binary `fuzz_<name>` (clang, MEMEMBED_FUZZ=ON, scripts/fuzz.sh), and
//   - into the `test_fuzz_replay` GoogleTest binary (any compiler), which feeds it every file of
//     fuzz/corpus/<name>/ and fuzz/regressions/<name>/ (inputs that once failed) in CI.
#pragma once

#include "memembed/error.h"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>

namespace memembed::fuzz {

using TargetFunction = void (*)(std::string_view input);

// Every target linked into this binary, by name.
std::map<std::string, TargetFunction>& targets();

struct Registration {
  Registration(const char* name, TargetFunction function) { targets()[name] = function; }
};

// The shared reference data ($MEMEMBED_SHARED_DIR, else the configured ../shared).
std::filesystem::path shared_dir();

// Writes `input` to `name` in this process's scratch directory and returns the path: the parsers
// under test read files, as they do in use.
std::filesystem::path write_input(std::string_view input, const std::string& name);

// True when $MEMEMBED_FUZZ_VERBOSE is set: refusals are printed (to check that seeds get past the
// parsers, e.g. `MEMEMBED_FUZZ_VERBOSE=1 fuzz_model_config fuzz/corpus/model_config/*`).
bool verbose();

// Runs `body`, swallowing memembed::Error (a clean refusal of bad input).
template <typename Body>
void refusing_bad_input(Body&& body) {
  try {
    body();
  } catch (const memembed::Error& error) {
    if (verbose()) std::fprintf(stderr, "refused: %s\n", error.what());
  }
}

}  // namespace memembed::fuzz

// Defines target `name`: MEMEMBED_FUZZ_TARGET(safetensors) { ... uses `input` ... }
#define MEMEMBED_FUZZ_TARGET(name)                                                             \
  void memembed_fuzz_##name(std::string_view input);                                            \
  static const ::memembed::fuzz::Registration memembed_fuzz_registration_##name(#name,          \
                                                                               &memembed_fuzz_##name); \
  void memembed_fuzz_##name(std::string_view input)
