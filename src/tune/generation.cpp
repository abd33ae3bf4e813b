// Synthetic (query, positive chunk) pairs, the train / held-out split and the held-out BEIR folder
// (tune.h, generate_training_data).
#include "llm_queries.h"
#include "text_spans.h"
#include "training_data.h"

#include "memembed/error.h"
#include "memembed/progress.h"

#include <algorithm>
#include <fstream>
#include <random>

namespace memembed::tune {

namespace {

constexpr size_t kMinQueryWords = 3;

// A contiguous span of 60-80% of the words (at least kMinQueryWords); empty when too short.
std::string word_span(const std::string& text, std::mt19937_64& rng) {
  const std::vector<std::string> words = split_words(text);
  if (words.size() < kMinQueryWords + 1) return "";
  const double share = std::uniform_real_distribution<double>(0.6, 0.8)(rng);
  const size_t length = std::max(kMinQueryWords, static_cast<size_t>(share * static_cast<double>(words.size()) + 0.5));
  const size_t start = std::uniform_int_distribution<size_t>(0, words.size() - length)(rng);
  return join_words(words, start, start + length);
}

// Inverse cloze: one of the chunk's sentences (of at least kMinQueryWords words) when it has
// several, else a span of its words.
std::vector<std::string> inverse_cloze(const std::string& text, size_t count, std::mt19937_64& rng) {
  std::vector<std::string> sentences;
  for (std::string& sentence : split_sentences(text)) {
    if (count_words(sentence) >= kMinQueryWords) sentences.push_back(std::move(sentence));
  }
  std::vector<std::string> queries;
  if (sentences.size() >= 2) {
    std::shuffle(sentences.begin(), sentences.end(), rng);
    sentences.resize(std::min(count, sentences.size()));
    return sentences;
  }
  for (size_t i = 0; i < count; ++i) {
    std::string span = word_span(text, rng);
    if (span.empty()) break;
    if (std::find(queries.begin(), queries.end(), span) == queries.end()) queries.push_back(std::move(span));
  }
  return queries;
}

// FNV-1a over the seed and the id: which chunks are held out depends on nothing else, so adding a
// document does not reshuffle the split.
double split_draw(uint64_t seed, const std::string& id) {
  uint64_t hash = 1469598103934665603ull ^ seed;
  for (unsigned char c : id) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  hash ^= hash >> 33;
  hash *= 0xff51afd7ed558ccdull;
  hash ^= hash >> 33;
  return static_cast<double>(hash >> 11) / static_cast<double>(1ull << 53);
}

GeneratorKind resolve_generator(const GenerateOptions& options, const std::vector<Chunk>& chunks) {
  if (options.generator != GeneratorKind::Auto) return options.generator;
  if (options.llm) return GeneratorKind::Llm;
  const auto turns = std::count_if(chunks.begin(), chunks.end(), [](const Chunk& chunk) { return chunk.is_turn; });
  return static_cast<size_t>(turns) * 2 >= chunks.size() ? GeneratorKind::Dialogue : GeneratorKind::InverseCloze;
}

void write_held_out(const fs::path& dir, const std::vector<Chunk>& chunks, const std::vector<TrainingPair>& held_out) {
  fs::create_directories(dir / "qrels");
  std::vector<Json> corpus;
  corpus.reserve(chunks.size());
  for (const Chunk& chunk : chunks) corpus.push_back({{"id", chunk.id}, {"title", ""}, {"text", chunk.text}});
  write_jsonl(dir / "corpus.jsonl", corpus);
  std::vector<Json> queries;
  std::string qrels = "query-id\tcorpus-id\tscore\n";
  for (const TrainingPair& pair : held_out) {
    queries.push_back({{"id", pair.query_id}, {"text", pair.query}});
    qrels += fmt::format("{}\t{}\t1\n", pair.query_id, pair.positive);
  }
  write_jsonl(dir / "queries.jsonl", queries);
  open_for_write(dir / "qrels" / "test.tsv") << qrels;
}

}  // namespace

const char* to_string(GeneratorKind kind) {
  switch (kind) {
    case GeneratorKind::Auto: return "auto";
    case GeneratorKind::InverseCloze: return "inverse-cloze";
    case GeneratorKind::Dialogue: return "dialogue";
    case GeneratorKind::Llm: return "llm";
  }
  return "?";
}

GeneratorKind generator_from_string(const std::string& name) {
  for (GeneratorKind kind : {GeneratorKind::Auto, GeneratorKind::InverseCloze, GeneratorKind::Dialogue, GeneratorKind::Llm}) {
    if (name == to_string(kind)) return kind;
  }
  throw invalid_input("unknown generator \"{}\" (known: auto, inverse-cloze, dialogue, llm)", name);
}

Json GenerateReport::to_json() const {
  return {{"generator", generator},         {"documents", documents},       {"chunks", chunks},
          {"train_pairs", train_pairs},     {"held_out_queries", held_out_queries},
          {"skipped_chunks", skipped_chunks}};
}

GenerateReport generate_training_data(const GenerateOptions& options) {
  if (options.held_out_fraction < 0 || options.held_out_fraction >= 1) {
    throw invalid_input("the held-out fraction must be in [0, 1), got {}", options.held_out_fraction);
  }
  const std::vector<Chunk> chunks = load_chunks(options.docs, options.chunking);
  const GeneratorKind generator = resolve_generator(options, chunks);
  if (generator == GeneratorKind::Llm && !options.llm) {
    throw invalid_input("the llm generator needs an endpoint (--llm-url and --llm-model)");
  }
  std::unique_ptr<LlmQueryWriter> llm;
  if (generator == GeneratorKind::Llm) llm = std::make_unique<LlmQueryWriter>(*options.llm);
  const size_t per_chunk = generator == GeneratorKind::Llm ? options.llm->queries_per_chunk : 1;

  GenerateReport report;
  report.generator = to_string(generator);
  std::vector<std::string> sources;
  for (const Chunk& chunk : chunks) {
    if (sources.empty() || sources.back() != chunk.source) sources.push_back(chunk.source);
  }
  std::sort(sources.begin(), sources.end());
  report.documents = static_cast<size_t>(std::unique(sources.begin(), sources.end()) - sources.begin());
  report.chunks = chunks.size();

  std::vector<TrainingPair> train, held_out;
  std::mt19937_64 rng(options.seed);
  Progress progress("generating queries", chunks.size(), "chunks");
  size_t query_number = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const Chunk& chunk = chunks[i];
    std::vector<std::string> queries;
    std::vector<std::string> related;
    switch (generator) {
      case GeneratorKind::Dialogue:
        if (chunk.is_turn) {
          if (i > 0 && chunks[i - 1].is_turn) related.push_back(chunks[i - 1].id);
          if (i + 1 < chunks.size() && chunks[i + 1].is_turn) related.push_back(chunks[i + 1].id);
        }
        queries = inverse_cloze(turn_content(chunk.text), per_chunk, rng);
        break;
      case GeneratorKind::Llm:
        queries = llm->queries(chunk.text);
        break;
      default:
        queries = inverse_cloze(chunk.text, per_chunk, rng);
    }
    progress.advance(1);
    if (queries.empty()) {
      ++report.skipped_chunks;
      continue;
    }
    const bool hold_out = split_draw(options.seed, chunk.id) < options.held_out_fraction;
    for (std::string& query : queries) {
      TrainingPair pair{fmt::format("q{}", query_number++), std::move(query), chunk.id, related};
      // Once the held-out set is full, the remaining held-out chunks train.
      if (hold_out && held_out.size() < options.max_held_out) held_out.push_back(std::move(pair));
      else train.push_back(std::move(pair));
    }
  }
  progress.finish();
  if (options.max_train_pairs > 0 && train.size() > options.max_train_pairs) {
    std::shuffle(train.begin(), train.end(), rng);
    train.resize(options.max_train_pairs);
    std::sort(train.begin(), train.end(), [](const TrainingPair& a, const TrainingPair& b) {
      return std::stoull(a.query_id.substr(1)) < std::stoull(b.query_id.substr(1));
    });
  }
  if (train.empty()) throw invalid_input("no training pairs could be made from the documents (too little text?)");
  report.train_pairs = train.size();
  report.held_out_queries = held_out.size();

  fs::create_directories(options.data_dir);
  write_chunks(options.data_dir / "chunks.jsonl", chunks);
  write_pairs(options.data_dir / "train.jsonl", train);
  write_held_out(options.eval_dir, chunks, held_out);
  write_json_file(options.data_dir / "generation.json", report.to_json());
  return report;
}

}  // namespace memembed::tune
