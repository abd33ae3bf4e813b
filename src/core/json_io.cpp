#include "memembed/json_io.h"

#include "memembed/error.h"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <system_error>

namespace memembed {

namespace fs = std::filesystem;

std::ifstream open_for_read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (!fs::exists(path)) throw not_found("{}: no such file", path.string());
    throw io_error("{}: cannot open for reading", path.string());
  }
  return in;
}

std::string read_file(const fs::path& path) {
  std::ifstream in = open_for_read(path);
  std::string buffer;
  in.seekg(0, std::ios::end);
  const auto size = in.tellg();
  if (size > 0) {
    buffer.resize(static_cast<size_t>(size));
    in.seekg(0, std::ios::beg);
    in.read(buffer.data(), size);
    if (!in) throw io_error("{}: read failed", path.string());
  }
  return buffer;
}

Json read_json_file(const fs::path& path) {
  const std::string content = read_file(path);
  try {
    return Json::parse(content);
  } catch (const Json::parse_error& e) {
    throw invalid_input("{}: malformed JSON at byte {}: {}", path.string(), e.byte, e.what());
  } catch (const Json::exception& e) {  // a number beyond double's range (out_of_range.406)
    throw invalid_input("{}: malformed JSON: {}", path.string(), e.what());
  }
}

std::ofstream open_for_write(const fs::path& path) {
  if (path.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    if (ec) throw io_error("{}: cannot create directory: {}", path.parent_path().string(), ec.message());
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw io_error("{}: cannot open for writing", path.string());
  return out;
}

fs::path path_inside(const fs::path& dir, const std::string& relative, const std::string& where) {
  const fs::path path(relative);
  const fs::path normal = path.lexically_normal();
  if (path.is_absolute() || path.has_root_name() || (!normal.empty() && *normal.begin() == "..")) {
    throw invalid_input("{}: \"{}\" points outside the directory {}", where, relative, dir.string());
  }
  return dir / normal;
}

void write_json_file(const fs::path& path, const Json& value, int indent) {
  fs::path temporary = path;
  temporary += ".tmp";
  {
    std::ofstream out = open_for_write(temporary);
    out << value.dump(indent, ' ', false, Json::error_handler_t::replace) << '\n';
    if (!out.flush()) throw io_error("{}: write failed", temporary.string());
  }
  std::error_code ec;
  fs::rename(temporary, path, ec);
  if (ec) throw io_error("{}: cannot rename into place: {}", path.string(), ec.message());
}

void for_each_jsonl(const fs::path& path, const std::function<void(const Json&, size_t)>& on_line) {
  std::ifstream in = open_for_read(path);
  std::string line;
  size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    Json value;
    try {
      value = Json::parse(line);
    } catch (const Json::parse_error& e) {
      throw invalid_input("{}:{}: malformed JSON at column {}: {}", path.string(), number, e.byte,
                          e.what());
    } catch (const Json::exception& e) {  // a number beyond double's range (out_of_range.406)
      throw invalid_input("{}:{}: malformed JSON: {}", path.string(), number, e.what());
    }
    on_line(value, number);
  }
}

std::string require_string(const Json& object, const char* field, const std::string& where) {
  if (!object.is_object()) throw invalid_input("{}: expected a JSON object", where);
  auto it = object.find(field);
  if (it == object.end()) throw invalid_input("{}: missing field \"{}\"", where, field);
  if (!it->is_string()) {
    throw invalid_input("{}: field \"{}\" must be a string, got {}", where, field, it->type_name());
  }
  return it->get<std::string>();
}

std::optional<std::string> optional_string(const Json& object, const char* field,
                                           const std::string& where) {
  if (!object.is_object()) throw invalid_input("{}: expected a JSON object", where);
  auto it = object.find(field);
  if (it == object.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) {
    throw invalid_input("{}: field \"{}\" must be a string, got {}", where, field, it->type_name());
  }
  return it->get<std::string>();
}

double require_number(const Json& object, const char* field, const std::string& where) {
  if (!object.is_object()) throw invalid_input("{}: expected a JSON object", where);
  auto it = object.find(field);
  if (it == object.end()) throw invalid_input("{}: missing field \"{}\"", where, field);
  if (!it->is_number()) {
    throw invalid_input("{}: field \"{}\" must be a number, got {}", where, field, it->type_name());
  }
  return it->get<double>();
}

std::vector<std::string> read_texts(const fs::path& path) {
  std::vector<std::string> texts;
  if (path.extension() == ".jsonl") {
    for_each_jsonl(path, [&](const Json& record, size_t line) {
      const std::string where = fmt::format("{}:{}", path.string(), line);
      std::string text = require_string(record, "text", where);
      if (!is_valid_utf8(text)) throw invalid_input("{}: \"text\" is not valid UTF-8", where);
      texts.push_back(std::move(text));
    });
    return texts;
  }
  std::ifstream in = open_for_read(path);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!is_valid_utf8(line)) throw invalid_input("{}:{}: not valid UTF-8", path.string(), texts.size() + 1);
    texts.push_back(std::move(line));
  }
  return texts;
}

bool is_valid_utf8(std::string_view bytes) {
  size_t i = 0;
  const size_t n = bytes.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t length;
    uint32_t code;
    if ((c & 0xE0) == 0xC0) {
      length = 2;
      code = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      length = 3;
      code = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      length = 4;
      code = c & 0x07;
    } else {
      return false;
    }
    if (i + length > n) return false;
    for (size_t k = 1; k < length; ++k) {
      const auto cc = static_cast<unsigned char>(bytes[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      code = (code << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMinimum[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < kMinimum[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
    i += length;
  }
  return true;
}

namespace {

bool is_python_whitespace(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

// Decodes the code point starting at `i` (input is assumed valid UTF-8); returns its byte length.
size_t decode_at(std::string_view s, size_t i, uint32_t& code) {
  const auto c = static_cast<unsigned char>(s[i]);
  size_t length = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
  if (i + length > s.size()) length = 1;
  code = length == 1 ? c : (c & (0x7F >> length));
  for (size_t k = 1; k < length; ++k) code = (code << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  return length;
}

}  // namespace

std::string strip_unicode_whitespace(std::string_view text) {
  size_t begin = 0;
  while (begin < text.size()) {
    uint32_t code;
    const size_t length = decode_at(text, begin, code);
    if (!is_python_whitespace(code)) break;
    begin += length;
  }
  size_t end = begin;
  for (size_t i = begin; i < text.size();) {
    uint32_t code;
    const size_t length = decode_at(text, i, code);
    i += length;
    if (!is_python_whitespace(code)) end = i;
  }
  return std::string(text.substr(begin, end - begin));
}

}  // namespace memembed
