// --precision f32|bf16|int8, shared by every command that loads a model (embed, eval, bench).
#pragma once

#include "memembed/precision.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

namespace memembed::cli {

inline CLI::Option* add_precision_option(CLI::App* command, Precision& precision) {
  return command
      ->add_option_function<std::string>(
          "--precision", [&precision](const std::string& name) { precision = parse_precision(name, "--precision"); },
          "Linear-layer precision: f32, bf16 (CPUs with AVX512_BF16/AMX, else f32 with a notice) or int8 "
          "(dynamic quantization through oneDNN)")
      ->check(CLI::IsMember({"f32", "bf16", "int8"}))
      ->default_str("f32");
}

// The one-line notice when this CPU cannot run the requested precision (it computes in f32 then).
inline void announce_precision(Precision requested) {
  const model::PrecisionPlan plan = model::plan_precision(requested);
  if (!plan.notice.empty()) std::fprintf(stderr, "memembed: %s\n", plan.notice.c_str());
}

}  // namespace memembed::cli
