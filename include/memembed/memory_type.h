// memory_type: LMEB's four memory types and every name memembed gives them, defined once.
//
// The same four kinds of memory appear under three vocabularies: LMEB's task folders and tables
// ("Episodic", "Dialogue", "Semantic", "Procedural"), the agent-memory categories of the memory
// service ("EPISODIC", "SOCIAL", "SEMANTIC", "PROCEDURAL": its SOCIAL memories are LMEB's dialogue
// ones), and the short prefixes of LMEB's published columns and registry keys ("epi", "dia", ...).
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

namespace memembed {

enum class MemoryType { Episodic = 0, Dialogue = 1, Semantic = 2, Procedural = 3 };
inline constexpr size_t kMemoryTypeCount = 4;
// LMEB's table order.
inline constexpr std::array<MemoryType, kMemoryTypeCount> kMemoryTypes = {
    MemoryType::Episodic, MemoryType::Dialogue, MemoryType::Semantic, MemoryType::Procedural};

const char* lmeb_name(MemoryType type);      // "Episodic", "Dialogue", ...
const char* category_name(MemoryType type);  // "EPISODIC", "SOCIAL", ... (memory service)
const char* short_name(MemoryType type);     // "epi", "dia", "sem", "pro"

// Any of the three names, in any case, surrounding spaces ignored ("social" = Dialogue).
std::optional<MemoryType> find_memory_type(std::string_view name);
// As find_memory_type; throws InvalidInput listing the accepted names when nothing matches.
MemoryType parse_memory_type(std::string_view name);

}  // namespace memembed
