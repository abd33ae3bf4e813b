// Reading the JSON and JSONL files users hand us, with errors that name the file, the line and the
// field. All parsing of user-supplied JSON goes through here so every message looks the same.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace memembed {

using Json = nlohmann::json;

// Parses a whole JSON file. Throws NotFound if it does not exist, InvalidInput (with the byte
// offset nlohmann reports) if it is not valid JSON.
Json read_json_file(const std::filesystem::path& path);

// Writes JSON atomically (temp file + rename), so a crash never leaves half a file behind.
void write_json_file(const std::filesystem::path& path, const Json& value, int indent = 2);

// Calls `on_line(json, line_number)` for each non-empty line of a JSONL file. Lines that are not
// valid JSON throw InvalidInput naming the file and the 1-based line.
void for_each_jsonl(const std::filesystem::path& path,
                    const std::function<void(const Json&, size_t line)>& on_line);

// Typed field access that names the field and its location on failure:
//   require_string(obj, "text", "queries.jsonl:12")
std::string require_string(const Json& object, const char* field, const std::string& where);
std::optional<std::string> optional_string(const Json& object, const char* field,
                                           const std::string& where);
double require_number(const Json& object, const char* field, const std::string& where);

// True when the bytes are well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
bool is_valid_utf8(std::string_view bytes);

// Python's str.strip(): removes leading/trailing Unicode whitespace (space, \t\n\v\f\r,
// U+001C-U+001F, U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000).
std::string strip_unicode_whitespace(std::string_view text);

// Texts to process, one per record: `.jsonl` files give each line's "text" field (blank lines are
// skipped), any other file gives each line as it is (an empty line is an empty text). Every text
// must be valid UTF-8; errors name the file and the line.
std::vector<std::string> read_texts(const std::filesystem::path& path);

// Opens a file for reading; NotFound when it does not exist, Io when it cannot be opened.
std::ifstream open_for_read(const std::filesystem::path& path);
// A whole file's bytes, with the same errors.
std::string read_file(const std::filesystem::path& path);

// `relative`, a path read from a file (`where` names that file and field), joined to `dir`.
// Absolute paths and paths that climb out of `dir` through ".." are InvalidInput: a model or task
// file never makes us read outside its own directory.
std::filesystem::path path_inside(const std::filesystem::path& dir, const std::string& relative,
                                  const std::string& where);

// Opens a file for writing, creating parent directories; throws Io with the path on failure.
std::ofstream open_for_write(const std::filesystem::path& path);

}  // namespace memembed
