// Categories, timestamps and the JSON form of memory records.
#include "memembed/error.h"
#include "memembed/memory.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>

namespace memembed::memory {

const char* to_string(Category category) {
  switch (category) {
    case Category::Working: return "WORKING";
    case Category::Episodic: return "EPISODIC";
    case Category::Procedural: return "PROCEDURAL";
    case Category::Semantic: return "SEMANTIC";
    case Category::Social: return "SOCIAL";
  }
  return "?";
}

Category parse_category(std::string_view name, std::string_view field) {
  std::string upper(name);
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
  for (Category c : {Category::Working, Category::Episodic, Category::Procedural, Category::Semantic,
                     Category::Social}) {
    if (upper == to_string(c)) return c;
  }
  throw invalid_input("{}: unknown category '{}' (expected EPISODIC, PROCEDURAL, SEMANTIC or SOCIAL)",
                      field, name);
}

void check_storable(Category category) {
  if (category == Category::Working) {
    throw invalid_input(
        "category WORKING cannot be stored: working memory is the agent's current context window and "
        "lives only there; store it as EPISODIC (what happened), SEMANTIC (facts), PROCEDURAL (how "
        "to) or SOCIAL (about people) when it should be remembered");
  }
}

const char* to_string(VectorSetState state) {
  switch (state) {
    case VectorSetState::Active: return "active";
    case VectorSetState::Building: return "building";
    case VectorSetState::Retired: return "retired";
  }
  return "?";
}

// ---- Timestamps ---------------------------------------------------------------------------------

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void civil_from_days(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp + (mp < 10 ? 3 : -9);
  y += m <= 2;
}

bool leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

}  // namespace

Timestamp now_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string format_timestamp(Timestamp time) {
  const int64_t micros_per_day = 86400LL * 1000000LL;
  int64_t days = time / micros_per_day;
  int64_t rest = time % micros_per_day;
  if (rest < 0) {
    rest += micros_per_day;
    --days;
  }
  int64_t y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  const int64_t seconds = rest / 1000000, micros = rest % 1000000;
  std::string out = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", y, m, d, seconds / 3600,
                                (seconds / 60) % 60, seconds % 60);
  if (micros != 0) out += fmt::format(".{:06}", micros);
  return out + "Z";
}

Timestamp parse_timestamp(std::string_view text, std::string_view field) {
  auto fail = [&]() -> Error {
    return invalid_input("{}: '{}' is not a timestamp (expected RFC 3339, e.g. 2026-11-30T17:05:00Z)",
                         field, text);
  };
  size_t pos = 0;
  auto digits = [&](size_t count) -> int64_t {
    if (pos + count > text.size()) throw fail();
    int64_t value = 0;
    for (size_t i = 0; i < count; ++i) {
      const char c = text[pos + i];
      if (c < '0' || c > '9') throw fail();
      value = value * 10 + (c - '0');
    }
    pos += count;
    return value;
  };
  auto expect = [&](std::string_view accepted) {
    if (pos >= text.size() || accepted.find(text[pos]) == std::string_view::npos) throw fail();
    ++pos;
  };
  const int64_t year = digits(4);
  expect("-");
  const int64_t month = digits(2);
  expect("-");
  const int64_t day = digits(2);
  expect("Tt ");
  const int64_t hour = digits(2);
  expect(":");
  const int64_t minute = digits(2);
  expect(":");
  const int64_t second = digits(2);
  int64_t micros = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    size_t count = 0;
    int64_t scale = 100000;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (count < 6) micros += (text[pos] - '0') * scale;
      scale /= 10;
      ++pos;
      ++count;
    }
    if (count == 0) throw fail();
  }
  int64_t offset_minutes = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    const int sign = text[pos] == '-' ? -1 : 1;
    ++pos;
    const int64_t oh = digits(2);
    expect(":");
    const int64_t om = digits(2);
    if (oh > 23 || om > 59) throw fail();
    offset_minutes = sign * (oh * 60 + om);
  } else {
    throw fail();  // a timestamp without a zone is ambiguous
  }
  if (pos != text.size()) throw fail();
  static const unsigned month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || day < 1 ||
      day > month_days[month - 1] + (month == 2 && leap(year) ? 1 : 0) || hour > 23 || minute > 59 ||
      second > 60) {
    throw fail();
  }
  const int64_t days = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  const int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + std::min<int64_t>(second, 59) -
                          offset_minutes * 60;
  return seconds * 1000000 + micros;
}

// ---- JSON ---------------------------------------------------------------------------------------

Json to_json(const Metadata& metadata) {
  return Json{{"source", metadata.source}, {"confidence", metadata.confidence}, {"tags", metadata.tags}};
}

Metadata metadata_from_json(const Json& json, std::string_view where) {
  if (!json.is_object()) throw invalid_input("{}: metadata must be an object", where);
  Metadata metadata;
  for (const auto& [key, value] : json.items()) {
    if (key == "source") {
      if (!value.is_string()) throw invalid_input("{}: metadata.source must be a string", where);
      metadata.source = value.get<std::string>();
    } else if (key == "confidence") {
      if (!value.is_number()) throw invalid_input("{}: metadata.confidence must be a number in [0, 1]", where);
      metadata.confidence = value.get<double>();
    } else if (key == "tags") {
      if (!value.is_array()) throw invalid_input("{}: metadata.tags must be an array of strings", where);
      for (const Json& tag : value) {
        if (!tag.is_string()) throw invalid_input("{}: metadata.tags must be an array of strings", where);
        metadata.tags.push_back(tag.get<std::string>());
      }
    } else {
      throw invalid_input("{}: unknown metadata field '{}' (expected source, confidence, tags)", where, key);
    }
  }
  return metadata;
}

Json to_json(const MemoryEntry& entry) {
  Json json{{"id", entry.id},
            {"agent_id", entry.agent_id},
            {"namespace", entry.namespace_},
            {"category", to_string(entry.category)},
            {"content", entry.content},
            {"metadata", to_json(entry.metadata)},
            {"created_at", format_timestamp(entry.created_at)},
            {"updated_at", format_timestamp(entry.updated_at)},
            {"expires_at", entry.expires_at ? Json(format_timestamp(*entry.expires_at)) : Json(nullptr)},
            {"shared", entry.shared}};
  return json;
}

MemoryEntry entry_from_json(const Json& json, std::string_view where) {
  if (!json.is_object()) throw invalid_input("{}: expected a memory record (JSON object)", where);
  const std::string at(where);
  MemoryEntry entry;
  entry.id = require_string(json, "id", at);
  entry.agent_id = require_string(json, "agent_id", at);
  entry.namespace_ = optional_string(json, "namespace", at).value_or("default");
  entry.category = parse_category(require_string(json, "category", at), at + ": category");
  entry.content = require_string(json, "content", at);
  if (json.contains("metadata")) entry.metadata = metadata_from_json(json["metadata"], where);
  entry.created_at = parse_timestamp(require_string(json, "created_at", at), at + ": created_at");
  entry.updated_at = json.contains("updated_at")
                         ? parse_timestamp(require_string(json, "updated_at", at), at + ": updated_at")
                         : entry.created_at;
  if (json.contains("expires_at") && !json["expires_at"].is_null()) {
    entry.expires_at = parse_timestamp(require_string(json, "expires_at", at), at + ": expires_at");
  }
  if (json.contains("shared")) {
    if (!json["shared"].is_boolean()) throw invalid_input("{}: shared must be true or false", where);
    entry.shared = json["shared"].get<bool>();
  }
  return entry;
}

}  // namespace memembed::memory
