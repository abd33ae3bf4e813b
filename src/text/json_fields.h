// Typed reads of tokenizer.json sections. Every error names the file and the JSON path
// ("tokenizer.json: normalizer.normalizers[1].lowercase must be a boolean, got string").
#pragma once

#include "memembed/json_io.h"

#include <optional>
#include <string>

namespace memembed::text {

// Where a JSON value sits: the file it came from and its path inside it.
struct JsonPlace {
  std::string file;
  std::string path;

  JsonPlace field(const std::string& name) const { return {file, path.empty() ? name : path + "." + name}; }
  JsonPlace index(size_t i) const { return {file, path + "[" + std::to_string(i) + "]"}; }
  std::string describe() const { return path.empty() ? file : file + ": " + path; }
};

const Json& require_object(const Json& value, const JsonPlace& place);
const Json& require_field(const Json& object, const char* name, const JsonPlace& place);
// Absent and null both give the fallback.
bool bool_field(const Json& object, const char* name, const JsonPlace& place, bool fallback);
std::optional<bool> optional_bool_field(const Json& object, const char* name, const JsonPlace& place);
std::string string_field(const Json& object, const char* name, const JsonPlace& place);
std::optional<std::string> optional_string_field(const Json& object, const char* name,
                                                 const JsonPlace& place);
int64_t integer_field(const Json& object, const char* name, const JsonPlace& place);
std::string type_field(const Json& object, const JsonPlace& place);  // the "type" discriminator

}  // namespace memembed::text
