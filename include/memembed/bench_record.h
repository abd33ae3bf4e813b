// bench_record: one model's measured throughput on one machine, the record `memembed bench --json`
// writes (at the top level for the first precision, and once per precision under "precisions")
// and `recommend --bench` reads back. Defined once here: bench lives in the CLI (it needs the
// encoder) and the selection module, which reads it, depends on core only.
#pragma once

#include "memembed/json_io.h"

#include <string>

namespace memembed {

struct BenchRecord {
  std::string model;      // as given to bench: a model directory or ORG/NAME
  std::string model_dir;  // the directory it was loaded from ("" when unknown)
  double texts_per_second = 0;
  double tokens_per_second = 0;
  double mean_tokens_per_text = 0;
  double peak_rss_bytes = 0;  // of the whole bench process
  int threads = 0;
  std::string device = "cpu";     // "cpu" | "cuda"
  std::string precision = "f32";  // of the linear layers: "f32" | "bf16" | "int8"
};

// The record's fields, to be written alone or merged into a larger report.
Json to_json(const BenchRecord& record);

// Reads the fields to_json writes. Rates, memory and threads must be greater than zero; "device"
// (default cpu; "gpu" means cuda), "precision" (default f32) and "model_dir" may be absent.
// Throws InvalidInput naming `where` and the field.
BenchRecord read_bench_record(const Json& document, const std::string& where);

}  // namespace memembed
