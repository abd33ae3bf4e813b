#include "memembed/error.h"
#include "memembed/memory_type.h"

#include <cctype>
#include <string>

namespace memembed {

namespace {

struct TypeNames {
  MemoryType type;
  const char* lmeb;
  const char* category;
  const char* short_name;
};

// The memory service calls LMEB's dialogue memories SOCIAL, so both names parse to Dialogue.
constexpr TypeNames kNames[] = {
    {MemoryType::Episodic, "Episodic", "EPISODIC", "epi"},
    {MemoryType::Dialogue, "Dialogue", "SOCIAL", "dia"},
    {MemoryType::Semantic, "Semantic", "SEMANTIC", "sem"},
    {MemoryType::Procedural, "Procedural", "PROCEDURAL", "pro"},
};

const TypeNames& names_of(MemoryType type) { return kNames[static_cast<int>(type)]; }

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

}  // namespace

const char* lmeb_name(MemoryType type) { return names_of(type).lmeb; }
const char* category_name(MemoryType type) { return names_of(type).category; }
const char* short_name(MemoryType type) { return names_of(type).short_name; }

std::optional<MemoryType> find_memory_type(std::string_view name) {
  const std::string_view wanted = trim(name);
  for (const TypeNames& names : kNames) {
    if (equals_ignoring_case(wanted, names.lmeb) || equals_ignoring_case(wanted, names.category) ||
        equals_ignoring_case(wanted, names.short_name)) {
      return names.type;
    }
  }
  return std::nullopt;
}

MemoryType parse_memory_type(std::string_view name) {
  if (const auto type = find_memory_type(name)) return *type;
  const std::string_view wanted = trim(name);
  throw invalid_input(
      "unknown memory type \"{}\": expected one of episodic, dialogue (or social), semantic, procedural",
      wanted);
}

}  // namespace memembed
