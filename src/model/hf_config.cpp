#include "hf_config.h"

#include "memembed/error.h"

namespace memembed::model {

HfConfig HfConfig::load(const std::filesystem::path& path) {
  Json json = read_json_file(path);
  if (!json.is_object()) throw invalid_input("{}: expected a JSON object", path.string());
  return HfConfig(std::move(json), path.string());
}

std::string HfConfig::architecture() const {
  const Json* architectures = find("architectures");
  if (architectures != nullptr && architectures->is_array() && !architectures->empty() &&
      (*architectures)[0].is_string()) {
    return (*architectures)[0].get<std::string>();
  }
  return model_type();
}

std::string HfConfig::model_type() const { return get_string("model_type", ""); }

const Json* HfConfig::find(const char* field) const {
  auto it = json_.find(field);
  if (it == json_.end() || it->is_null()) return nullptr;
  return &*it;
}

bool HfConfig::has(const char* field) const { return find(field) != nullptr; }

int64_t HfConfig::get_int(const char* field) const {
  const Json* value = find(field);
  if (value == nullptr) throw invalid_input("{}: missing field \"{}\"", where_, field);
  if (!value->is_number_integer()) {
    throw invalid_input("{}: field \"{}\" must be an integer, got {}", where_, field, value->dump());
  }
  return value->get<int64_t>();
}

int64_t HfConfig::get_int(const char* field, int64_t fallback) const {
  return has(field) ? get_int(field) : fallback;
}

int64_t HfConfig::get_size(const char* field) const { return get_size(field, get_int(field)); }

int64_t HfConfig::get_size(const char* field, int64_t fallback) const {
  // The fallback is checked too: it is often derived from other sizes (head_dim = hidden / heads).
  constexpr int64_t kLargest = int64_t{1} << 31;
  const int64_t value = has(field) ? get_int(field) : fallback;
  if (value < 1 || value > kLargest) {
    throw invalid_input("{}: field \"{}\" must be a size from 1 to {}, got {}", where_, field, kLargest, value);
  }
  return value;
}

double HfConfig::get_double(const char* field) const {
  const Json* value = find(field);
  if (value == nullptr) throw invalid_input("{}: missing field \"{}\"", where_, field);
  if (!value->is_number()) {
    throw invalid_input("{}: field \"{}\" must be a number, got {}", where_, field, value->dump());
  }
  return value->get<double>();
}

double HfConfig::get_double(const char* field, double fallback) const {
  return has(field) ? get_double(field) : fallback;
}

bool HfConfig::get_bool(const char* field, bool fallback) const {
  const Json* value = find(field);
  if (value == nullptr) return fallback;
  if (!value->is_boolean()) {
    throw invalid_input("{}: field \"{}\" must be true or false, got {}", where_, field, value->dump());
  }
  return value->get<bool>();
}

std::string HfConfig::get_string(const char* field, const std::string& fallback) const {
  const Json* value = find(field);
  if (value == nullptr) return fallback;
  if (!value->is_string()) {
    throw invalid_input("{}: field \"{}\" must be a string, got {}", where_, field, value->dump());
  }
  return value->get<std::string>();
}

std::vector<std::string> HfConfig::get_strings(const char* field) const {
  const Json* value = find(field);
  if (value == nullptr) return {};
  if (!value->is_array()) throw invalid_input("{}: field \"{}\" must be a list", where_, field);
  std::vector<std::string> result;
  for (const auto& item : *value) {
    if (!item.is_string()) throw invalid_input("{}: field \"{}\" must list strings", where_, field);
    result.push_back(item.get<std::string>());
  }
  return result;
}

}  // namespace memembed::model
