#include "memembed/precision.h"

#include "memembed/error.h"

namespace memembed {

const char* to_string(Precision precision) {
  switch (precision) {
    case Precision::F32: return "f32";
    case Precision::Bf16: return "bf16";
    case Precision::Int8: return "int8";
  }
  MEMEMBED_ASSERT(false);
  return "";
}

Precision parse_precision(const std::string& name, const std::string& where) {
  for (Precision precision : {Precision::F32, Precision::Bf16, Precision::Int8}) {
    if (name == to_string(precision)) return precision;
  }
  throw invalid_input("{}: unknown precision \"{}\" (known: f32, bf16, int8)", where, name);
}

}  // namespace memembed
