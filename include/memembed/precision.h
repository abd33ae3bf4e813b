// precision: the numeric precision of a transformer's linear layers, and what this CPU runs for it.
// No libtorch here, so options structs (embed::EncoderOptions, eval::EvalOptions, the embedder
// config) can carry it. Names: src/core/precision.cpp; plan_precision: the model module.
#pragma once

#include <string>

namespace memembed {

// Precision of the transformer's linear layers, chosen at load time from the ordinary float
// weights. Attention, norms, softmax, pooling and Dense heads always compute in float32.
//   f32:  OpenBLAS sgemm on the weights as loaded.
//   int8: dynamic quantization through oneDNN: weights int8 symmetric per output channel,
//         activations uint8 per token (own scale and zero point), int32 accumulation (AVX2 at
//         least; VNNI/AMX where present).
//   bf16: weights and activations in bfloat16, float32 accumulation, through oneDNN (CPUs with
//         AVX512_BF16 or AMX).
enum class Precision { F32, Bf16, Int8 };
const char* to_string(Precision precision);  // "f32", "bf16", "int8"
// "f32" | "bf16" | "int8"; InvalidInput naming `where` and the choices otherwise.
Precision parse_precision(const std::string& name, const std::string& where = "precision");

namespace model {

// What this CPU runs for a requested precision. Detected at run time from oneDNN's effective
// instruction set (which DNNL_MAX_CPU_ISA=AVX2, say, lowers): when the CPU lacks the features,
// `effective` is F32 and `notice` is the one line to show the user; never a silent fallback.
struct PrecisionPlan {
  Precision requested = Precision::F32;
  Precision effective = Precision::F32;
  std::string kernel;  // e.g. "oneDNN int8 matmul on avx2 (no VNNI: 16-bit pair products)"
  std::string notice;  // empty unless effective != requested
};
PrecisionPlan plan_precision(Precision requested);

}  // namespace model
}  // namespace memembed
