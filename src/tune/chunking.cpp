// Documents -> chunks with stable ids (tune.h, load_chunks).
#include "text_spans.h"

#include "memembed/error.h"
#include "memembed/json_io.h"
#include "memembed/tune.h"

#include <algorithm>
#include <cctype>
#include <set>

namespace memembed::tune {

namespace {

bool is_document_file(const fs::path& path) {
  std::string extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(), [](unsigned char c) { return std::tolower(c); });
  return extension == ".md" || extension == ".markdown" || extension == ".txt";
}

// Paragraphs (blank-line separated), each split further into sentences when it alone exceeds the
// budget, packed greedily into pieces of at most `max_words` words.
std::vector<std::string> split_document(const std::string& text, size_t max_words) {
  std::vector<std::string> units;
  for (const std::string& paragraph : split_paragraphs(text)) {
    if (count_words(paragraph) <= max_words) {
      units.push_back(paragraph);
      continue;
    }
    for (const std::string& sentence : split_sentences(paragraph)) {
      if (count_words(sentence) <= max_words) {
        units.push_back(sentence);
        continue;
      }
      const std::vector<std::string> words = split_words(sentence);
      for (size_t begin = 0; begin < words.size(); begin += max_words) {
        units.push_back(join_words(words, begin, std::min(words.size(), begin + max_words)));
      }
    }
  }
  std::vector<std::string> pieces;
  size_t words_in_piece = 0;
  for (const std::string& unit : units) {
    const size_t words = count_words(unit);
    if (pieces.empty() || words_in_piece + words > max_words) {
      pieces.push_back(unit);
      words_in_piece = words;
    } else {
      pieces.back() += "\n\n" + unit;
      words_in_piece += words;
    }
  }
  return pieces;
}

void add_document(const std::string& id, const std::string& text, const std::string& source, bool keep_id,
                  const ChunkOptions& options, std::vector<Chunk>& chunks) {
  const std::string stripped = strip_unicode_whitespace(text);
  if (stripped.empty()) return;
  if (keep_id && count_words(stripped) <= options.max_words) {
    chunks.push_back({id, stripped, source, is_dialogue_turn(stripped)});
    return;
  }
  const std::vector<std::string> pieces = split_document(stripped, options.max_words);
  for (size_t i = 0; i < pieces.size(); ++i) {
    chunks.push_back({fmt::format("{}#{}", id, i), pieces[i], source, is_dialogue_turn(pieces[i])});
  }
}

void load_corpus(const fs::path& path, const ChunkOptions& options, std::vector<Chunk>& chunks) {
  for_each_jsonl(path, [&](const Json& record, size_t line) {
    const std::string where = fmt::format("{}:{}", path.string(), line);
    if (!record.is_object()) throw invalid_input("{}: expected a JSON object", where);
    const std::string id = require_string(record, "id", where);
    if (id.empty() || std::any_of(id.begin(), id.end(), [](unsigned char c) { return std::isspace(c); })) {
      throw invalid_input("{}: \"id\" must be non-empty and without whitespace, got \"{}\"", where, id);
    }
    const std::string title = optional_string(record, "title", where).value_or("");
    const std::string text = require_string(record, "text", where);
    if (!is_valid_utf8(title) || !is_valid_utf8(text)) throw invalid_input("{}: the text is not valid UTF-8", where);
    add_document(id, title + " " + text, id, true, options, chunks);
  });
}

void load_file(const fs::path& path, const std::string& id, const ChunkOptions& options, std::vector<Chunk>& chunks) {
  const std::string text = read_file(path);
  if (!is_valid_utf8(text)) throw invalid_input("{}: not valid UTF-8", path.string());
  add_document(id, text, id, false, options, chunks);
}

}  // namespace

std::vector<Chunk> load_chunks(const std::vector<fs::path>& paths, const ChunkOptions& options) {
  if (options.max_words == 0) throw invalid_input("the chunk size must be at least 1 word");
  if (paths.empty()) throw invalid_input("no documents given");
  std::vector<Chunk> chunks;
  for (const fs::path& path : paths) {
    if (fs::is_directory(path)) {
      std::vector<fs::path> files;
      for (const auto& entry : fs::recursive_directory_iterator(path)) {
        if (entry.is_regular_file() && is_document_file(entry.path())) files.push_back(entry.path());
      }
      std::sort(files.begin(), files.end());
      if (files.empty()) throw invalid_input("{}: no .md, .markdown or .txt files in this directory", path.string());
      for (const fs::path& file : files) {
        // Ids travel into TREC run files, which are whitespace separated.
        std::string id = file.lexically_relative(path).generic_string();
        std::replace_if(id.begin(), id.end(), [](unsigned char c) { return std::isspace(c); }, '_');
        load_file(file, id, options, chunks);
      }
    } else if (!fs::exists(path)) {
      throw not_found("{}: no such file or directory", path.string());
    } else if (path.extension() == ".jsonl") {
      load_corpus(path, options, chunks);
    } else {
      load_file(path, path.filename().string(), options, chunks);
    }
  }
  std::set<std::string> seen;
  for (const Chunk& chunk : chunks) {
    if (!seen.insert(chunk.id).second) {
      throw invalid_input("chunk id \"{}\" occurs twice (ids must be unique across all --docs inputs)", chunk.id);
    }
  }
  if (chunks.empty()) throw invalid_input("the documents hold no text");
  return chunks;
}

}  // namespace memembed::tune
