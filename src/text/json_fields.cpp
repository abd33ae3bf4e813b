#include "json_fields.h"

#include "memembed/error.h"

namespace memembed::text {

const Json& require_object(const Json& value, const JsonPlace& place) {
  if (!value.is_object()) {
    throw invalid_input("{} must be a JSON object, got {}", place.describe(), value.type_name());
  }
  return value;
}

const Json& require_field(const Json& object, const char* name, const JsonPlace& place) {
  require_object(object, place);
  auto it = object.find(name);
  if (it == object.end()) throw invalid_input("{}: missing field \"{}\"", place.describe(), name);
  return *it;
}

std::optional<bool> optional_bool_field(const Json& object, const char* name, const JsonPlace& place) {
  require_object(object, place);
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) {
    throw invalid_input("{} must be a boolean, got {}", place.field(name).describe(), it->type_name());
  }
  return it->get<bool>();
}

bool bool_field(const Json& object, const char* name, const JsonPlace& place, bool fallback) {
  return optional_bool_field(object, name, place).value_or(fallback);
}

std::optional<std::string> optional_string_field(const Json& object, const char* name,
                                                 const JsonPlace& place) {
  require_object(object, place);
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) {
    throw invalid_input("{} must be a string, got {}", place.field(name).describe(), it->type_name());
  }
  return it->get<std::string>();
}

std::string string_field(const Json& object, const char* name, const JsonPlace& place) {
  const Json& value = require_field(object, name, place);
  if (!value.is_string()) {
    throw invalid_input("{} must be a string, got {}", place.field(name).describe(), value.type_name());
  }
  return value.get<std::string>();
}

int64_t integer_field(const Json& object, const char* name, const JsonPlace& place) {
  const Json& value = require_field(object, name, place);
  if (!value.is_number_integer()) {
    throw invalid_input("{} must be an integer, got {}", place.field(name).describe(), value.type_name());
  }
  return value.get<int64_t>();
}

std::string type_field(const Json& object, const JsonPlace& place) {
  return string_field(object, "type", place);
}

}  // namespace memembed::text
