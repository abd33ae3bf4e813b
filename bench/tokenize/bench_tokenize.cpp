// Tokenizer throughput (tokens/s) on a deterministic, memory-like text workload.
//
// The workload is 2000 texts from a seeded generator: English-like sentences of 5 to 120 words
// (mostly short, as agent memories are), with punctuation, numbers, contractions, some accented
// and CJK words. Run: build/bench/tokenize/bench_tokenize [--benchmark_filter=...].
#include "memembed/text.h"

#include <benchmark/benchmark.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using memembed::text::EncodeOptions;
using memembed::text::load_tokenizer;
using memembed::text::Tokenizer;

const std::vector<std::string>& workload() {
  static const std::vector<std::string> texts = [] {
    static const char* const kWords[] = {
        "the", "user", "prefers", "dark", "mode", "meeting", "with", "Alice", "about", "quarterly",
        "planning", "deployment", "failed", "because", "of", "a", "missing", "environment", "variable",
        "remember", "to", "rotate", "credentials", "every", "90", "days", "project", "deadline", "is",
        "Friday", "customer", "reported", "latency", "spikes", "in", "eu-west-1", "database",
        "migration", "completed", "successfully", "it's", "don't", "we'll", "résumé", "naïve", "café",
        "Zürich", "東京", "会議", "unbelievably", "internationalization", "PostgreSQL", "pgvector",
        "embedding", "retrieval", "v2.3.1", "2024-03-15", "$1,234.56", "e-mail:", "bob@example.com"};
    static const char* const kPunctuation[] = {".", ",", "!", "?", ";", ":"};
    std::mt19937_64 rng(20250220);
    std::uniform_int_distribution<size_t> word(0, std::size(kWords) - 1);
    std::uniform_int_distribution<size_t> mark(0, std::size(kPunctuation) - 1);
    std::geometric_distribution<size_t> length(0.05);
    std::vector<std::string> out;
    for (int i = 0; i < 2000; ++i) {
      const size_t words = 5 + std::min<size_t>(length(rng), 115);
      std::string text;
      for (size_t w = 0; w < words; ++w) {
        if (w > 0) text += ' ';
        text += kWords[word(rng)];
        if (rng() % 9 == 0) text += kPunctuation[mark(rng)];
      }
      out.push_back(std::move(text));
    }
    return out;
  }();
  return texts;
}

void run(benchmark::State& state, const fs::path& path) {
  if (!fs::exists(path)) {
    state.SkipWithError(("tokenizer not found: " + path.string()).c_str());
    return;
  }
  const auto tokenizer = load_tokenizer(path);
  const auto& texts = workload();
  size_t tokens = 0;
  size_t bytes = 0;
  for (auto _ : state) {
    for (const std::string& text : texts) {
      const auto encoding = tokenizer->encode(text, EncodeOptions{true, 0});
      tokens += encoding.ids.size();
      bytes += text.size();
      benchmark::DoNotOptimize(encoding.ids.data());
    }
  }
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(tokens), benchmark::Counter::kIsRate);
  state.counters["texts/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * texts.size()), benchmark::Counter::kIsRate);
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}

const fs::path kShared = MEMEMBED_SHARED_DIR;

void BM_WordPiece_BertBaseUncased(benchmark::State& state) { run(state, kShared / "tokenizers" / "bert-base-uncased"); }
void BM_ByteLevelBpe_Gpt2(benchmark::State& state) { run(state, kShared / "tokenizers" / "gpt2"); }
void BM_ByteLevelBpe_Qwen3Nfc(benchmark::State& state) { run(state, kShared / "fixtures" / "qwen3-embed-tiny"); }
void BM_SentencePiece_Llama2(benchmark::State& state) { run(state, kShared / "tokenizers" / "llama2"); }

BENCHMARK(BM_WordPiece_BertBaseUncased)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ByteLevelBpe_Gpt2)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ByteLevelBpe_Qwen3Nfc)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SentencePiece_Llama2)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
