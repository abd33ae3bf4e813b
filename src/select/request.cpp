#include "memembed/error.h"
#include "memembed/select.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <string>

namespace memembed::select {

namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

struct NumberWithUnit {
  double value = 0;
  std::string unit;  // lower case, may be empty
};

// "1.5GiB" -> {1.5, "gib"}; nullopt when the text does not start with a finite number.
std::optional<NumberWithUnit> split_number(std::string_view text) {
  text = trim(text);
  double value = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  const auto [rest, error] = std::from_chars(begin, end, value);
  if (error != std::errc() || !std::isfinite(value)) return std::nullopt;
  return NumberWithUnit{value, lower(trim(std::string_view(rest, static_cast<size_t>(end - rest))))};
}

struct Level {
  const char* name;
  double weight;
};
constexpr Level kLevels[] = {{"none", 0.0}, {"low", 0.5}, {"medium", 1.0}, {"high", 2.0}};

double parse_level(std::string_view text, std::string_view entry) {
  const std::string name = lower(trim(text));
  for (const Level& level : kLevels) {
    if (name == level.name) return level.weight;
  }
  if (const auto number = split_number(name); number && number->unit.empty()) {
    if (number->value < 0) throw invalid_input("--priority \"{}\": a weight must not be negative", entry);
    return number->value;
  }
  throw invalid_input("--priority \"{}\": unknown level \"{}\" (expected none, low, medium, high or a number >= 0)",
                      entry, trim(text));
}

}  // namespace

double parse_size(std::string_view text, std::string_view what) {
  const auto number = split_number(text);
  if (!number) {
    throw invalid_input("{}: \"{}\" is not a size (examples: 2, 2GB, 512MB, 16GiB; a bare number is GB)", what,
                        trim(text));
  }
  if (number->value < 0) throw invalid_input("{}: must not be negative, got {}", what, trim(text));
  static const std::pair<const char*, double> kUnits[] = {
      {"", 1e9},     {"g", 1e9},    {"gb", 1e9},    {"m", 1e6},     {"mb", 1e6},     {"t", 1e12},
      {"tb", 1e12},  {"k", 1e3},    {"kb", 1e3},    {"b", 1.0},     {"gib", 1073741824.0},
      {"mib", 1048576.0}, {"kib", 1024.0}, {"tib", 1099511627776.0}};
  for (const auto& [unit, factor] : kUnits) {
    if (number->unit == unit) {
      if (number->value == 0) throw invalid_input("{}: must be greater than zero, got {}", what, trim(text));
      return number->value * factor;
    }
  }
  throw invalid_input("{}: unknown unit \"{}\" in \"{}\" (use B, KB, MB, GB, TB or KiB, MiB, GiB, TiB)", what,
                      number->unit, trim(text));
}

double parse_param_count(std::string_view text, std::string_view what) {
  const auto number = split_number(text);
  if (!number) throw invalid_input("{}: \"{}\" is not a parameter count (examples: 300M, 1.5B)", what, trim(text));
  double factor = 0;
  if (number->unit.empty()) factor = 1;
  else if (number->unit == "k") factor = 1e3;
  else if (number->unit == "m") factor = 1e6;
  else if (number->unit == "b") factor = 1e9;
  else throw invalid_input("{}: unknown suffix \"{}\" in \"{}\" (use K, M or B)", what, number->unit, trim(text));
  if (number->value <= 0) throw invalid_input("{}: must be greater than zero, got {}", what, trim(text));
  return number->value * factor;
}

Priorities parse_priorities(std::string_view spec) {
  if (trim(spec).empty()) throw invalid_input("--priority: empty (example: episodic=high,social=medium)");
  Priorities priorities;
  std::array<std::string, kMemoryTypeCount> given_as;
  size_t start = 0;
  while (start <= spec.size()) {
    const size_t comma = std::min(spec.find(',', start), spec.size());
    const std::string_view entry = trim(spec.substr(start, comma - start));
    start = comma + 1;
    if (entry.empty()) continue;
    const size_t equals = entry.find('=');
    if (equals == std::string_view::npos)
      throw invalid_input("--priority \"{}\": expected <memory type>=<level>, e.g. dialogue=high", entry);
    const std::string_view name = trim(entry.substr(0, equals));
    MemoryType type;
    try {
      type = parse_memory_type(name);
    } catch (const Error& e) {
      throw invalid_input("--priority \"{}\": {}", entry, e.what());
    }
    const int index = static_cast<int>(type);
    if (!given_as[index].empty()) {
      throw invalid_input("--priority: {} is given twice (as \"{}\" and \"{}\")", lmeb_name(type), given_as[index],
                          name);
    }
    given_as[index] = std::string(name);
    priorities.weights[index] = parse_level(entry.substr(equals + 1), entry);
  }
  double total = 0;
  for (const double weight : priorities.weights) total += weight;
  if (total <= 0) throw invalid_input("--priority: at least one memory type needs a weight above none");
  return priorities;
}

std::string describe(const Priorities& priorities) {
  std::string out;
  for (const MemoryType type : kMemoryTypes) {
    const double weight = priorities.weight(type);
    std::string level = fmt::format("{:g}", weight);
    for (const Level& known : kLevels) {
      if (weight == known.weight) level = known.name;
    }
    out += fmt::format("{}{}={}", out.empty() ? "" : " ",
                       type == MemoryType::Dialogue ? "dialogue/social" : lower(lmeb_name(type)), level);
  }
  return out;
}

void validate(const Request& request) {
  if (request.cpu_only && request.vram_bytes)
    throw invalid_input("--cpu-only and --vram contradict each other: give one of them");
  if (request.ram_bytes && *request.ram_bytes <= 0) throw invalid_input("--ram: must be greater than zero");
  if (request.vram_bytes && *request.vram_bytes <= 0) throw invalid_input("--vram: must be greater than zero");
  if (request.latency_ms && !(*request.latency_ms > 0))
    throw invalid_input("--latency-ms: must be greater than zero, got {}", *request.latency_ms);
  if (request.top == 0) throw invalid_input("--top: must be at least 1");
  double total = 0;
  for (const double weight : request.priorities.weights) {
    if (!(weight >= 0) || !std::isfinite(weight)) throw invalid_input("priorities: weights must be finite and >= 0");
    total += weight;
  }
  if (total <= 0) throw invalid_input("priorities: at least one memory type needs a weight above none");
  for (const std::string& language : request.languages) {
    if (trim(language).empty()) throw invalid_input("--languages: empty language code");
  }
}

}  // namespace memembed::select
