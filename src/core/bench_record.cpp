#include "memembed/bench_record.h"

#include "memembed/error.h"
#include "memembed/precision.h"

namespace memembed {

Json to_json(const BenchRecord& record) {
  return {
      {"model", record.model},
      {"model_dir", record.model_dir},
      {"texts_per_second", record.texts_per_second},
      {"tokens_per_second", record.tokens_per_second},
      {"mean_tokens_per_text", record.mean_tokens_per_text},
      {"peak_rss_bytes", record.peak_rss_bytes},
      {"threads", record.threads},
      {"device", record.device},
      {"precision", record.precision},
  };
}

BenchRecord read_bench_record(const Json& document, const std::string& where) {
  if (!document.is_object()) throw invalid_input("{}: expected a JSON object from `memembed bench --json`", where);
  const auto positive = [&](const char* field) {
    const double value = require_number(document, field, where);
    if (!(value > 0)) throw invalid_input("{}: \"{}\" must be greater than zero, got {}", where, field, value);
    return value;
  };
  BenchRecord record;
  record.model = require_string(document, "model", where);
  record.model_dir = optional_string(document, "model_dir", where).value_or("");
  record.texts_per_second = positive("texts_per_second");
  record.tokens_per_second = positive("tokens_per_second");
  record.peak_rss_bytes = positive("peak_rss_bytes");
  record.mean_tokens_per_text = positive("mean_tokens_per_text");
  const double threads = positive("threads");
  if (threads > 1e6) throw invalid_input("{}: \"threads\" is implausibly large: {}", where, threads);
  record.threads = static_cast<int>(threads);
  const std::string device = optional_string(document, "device", where).value_or("cpu");
  if (device == "cpu") record.device = "cpu";
  else if (device == "cuda" || device == "gpu") record.device = "cuda";
  else throw invalid_input("{}: \"device\" must be \"cpu\" or \"cuda\", got \"{}\"", where, device);
  record.precision =
      to_string(parse_precision(optional_string(document, "precision", where).value_or("f32"), where + ": precision"));
  return record;
}

}  // namespace memembed
