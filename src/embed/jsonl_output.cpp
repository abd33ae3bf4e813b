#include "memembed/embed.h"
#include "memembed/error.h"
#include "memembed/log.h"
#include "memembed/progress.h"

#include <fmt/format.h>

#include <fstream>

namespace memembed::embed {

namespace fs = std::filesystem;

namespace {

// Counts the complete lines already in `path` and cuts off a partial last line.
size_t keep_complete_lines(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io_error("{}: cannot open for reading", path.string());
  std::string line;
  size_t count = 0;
  std::streamoff good_end = 0;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // no trailing newline: the last write was cut short
    ++count;
    good_end = in.tellg();
  }
  in.close();
  std::error_code ec;
  fs::resize_file(path, static_cast<uintmax_t>(good_end), ec);
  if (ec) throw io_error("{}: cannot cut the incomplete last line: {}", path.string(), ec.message());
  return count;
}

}  // namespace

size_t embed_to_jsonl(const Encoder& encoder, const std::vector<std::string>& texts, const std::string& prompt,
                      const fs::path& output, const JsonlOutputOptions& options) {
  return embed_to_jsonl([&](const std::vector<std::string>& chunk) { return encoder.encode(chunk, prompt); }, texts,
                        output, options);
}

size_t embed_to_jsonl(const EmbedFunction& embed, const std::vector<std::string>& texts, const fs::path& output,
                      const JsonlOutputOptions& options) {
  if (options.chunk_texts == 0) throw invalid_input("the output chunk must hold at least one text");
  size_t start = 0;
  if (options.resume && fs::exists(output)) {
    start = keep_complete_lines(output);
    if (start > texts.size()) {
      throw invalid_input("{} already has {} lines but there are only {} texts; is it the output of another input?",
                          output.string(), start, texts.size());
    }
    if (start > 0) logger()->info("resuming after {} embedded texts", start);
  }
  if (output.has_parent_path()) fs::create_directories(output.parent_path());
  std::ofstream out(output, std::ios::binary | (start > 0 ? std::ios::app : std::ios::trunc));
  if (!out) throw io_error("{}: cannot open for writing", output.string());

  std::unique_ptr<Progress> progress;
  if (options.show_progress) progress = std::make_unique<Progress>("embed", texts.size() - start, "texts");
  std::string buffer;
  for (size_t begin = start; begin < texts.size(); begin += options.chunk_texts) {
    const size_t end = std::min(texts.size(), begin + options.chunk_texts);
    const std::vector<std::string> chunk(texts.begin() + static_cast<std::ptrdiff_t>(begin),
                                         texts.begin() + static_cast<std::ptrdiff_t>(end));
    const Embeddings embeddings = embed(chunk);
    buffer.clear();
    for (size_t r = 0; r < embeddings.rows; ++r) {
      // fmt prints the shortest decimal that reads back as the same float.
      fmt::format_to(std::back_inserter(buffer), "{{\"index\": {}, \"embedding\": [{}]}}\n", begin + r,
                     fmt::join(embeddings.row(r), embeddings.row(r) + embeddings.dim, ", "));
    }
    out << buffer;
    if (!out.flush()) throw io_error("{}: write failed", output.string());
    if (progress) progress->advance(end - begin);
  }
  if (progress) progress->finish();
  return start;
}

}  // namespace memembed::embed
