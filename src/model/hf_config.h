// config.json of a Hugging Face model, with typed getters whose errors name the file and the field.
#pragma once

#include "memembed/json_io.h"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace memembed::model {

class HfConfig {
 public:
  static HfConfig load(const std::filesystem::path& path);
  HfConfig(Json json, std::string where) : json_(std::move(json)), where_(std::move(where)) {}

  // architectures[0], else model_type (for early files), else "".
  std::string architecture() const;
  std::string model_type() const;

  int64_t get_int(const char* field) const;
  int64_t get_int(const char* field, int64_t fallback) const;
  // A size or count (hidden_size, num_attention_heads, ...): an integer from 1 to 2^31, so it can
  // be divided by and multiplied with other sizes safely.
  int64_t get_size(const char* field) const;
  int64_t get_size(const char* field, int64_t fallback) const;
  double get_double(const char* field) const;
  double get_double(const char* field, double fallback) const;
  bool get_bool(const char* field, bool fallback) const;
  std::string get_string(const char* field, const std::string& fallback) const;
  std::vector<std::string> get_strings(const char* field) const;  // [] when absent
  bool has(const char* field) const;

  const Json& json() const { return json_; }
  const std::string& where() const { return where_; }

 private:
  const Json* find(const char* field) const;

  Json json_;
  std::string where_;
};

}  // namespace memembed::model
