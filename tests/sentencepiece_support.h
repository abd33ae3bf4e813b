// Tests that load a SentencePiece model in a process linking libtorch. Sanitizer builds cannot
// isolate SentencePiece's protobuf from libtorch's there (AddressSanitizer refuses RTLD_DEEPBIND;
// see src/text/sentencepiece_library.cpp) and refuse such loads with Unsupported: those tests
// skip, saying why. Every other build loads the model.
#pragma once

#include "memembed/error.h"
#include "memembed/text.h"

#include <gtest/gtest.h>

#include <filesystem>

// Skips the test when the model in `dir` cannot be tokenised in this build.
#define MEMEMBED_REQUIRE_TOKENIZER_LOADS(dir)                                     \
  do {                                                                            \
    try {                                                                         \
      ::memembed::text::load_tokenizer(dir);                                      \
    } catch (const ::memembed::Error& tokenizer_error_) {                         \
      if (tokenizer_error_.kind() != ::memembed::ErrorKind::Unsupported) throw;   \
      GTEST_SKIP() << tokenizer_error_.what();                                    \
    }                                                                             \
  } while (0)
