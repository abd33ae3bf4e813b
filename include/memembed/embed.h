// embed: the Encoder, which turns many texts into embeddings with a loaded model.
//
// Texts are tokenised, sorted by length, packed into batches under a token budget (so padding is
// small), run through the model, and returned in input order. A text embedded alone and inside a
// mixed batch gives the same vector (within 1e-5). Prompts are plain string prefixes applied as
// sentence-transformers does: input = (prompt + text).strip().
#pragma once

#include "memembed/text.h"
#include "memembed/precision.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace memembed::model {
class SentenceTransformer;
}

namespace memembed::embed {

// Row-major [rows x dim] float32 matrix: what every consumer of embeddings (eval, memory) takes,
// so they need not depend on libtorch.
struct Embeddings {
  size_t rows = 0;
  size_t dim = 0;
  std::vector<float> values;

  const float* row(size_t i) const { return values.data() + i * dim; }
  float* row(size_t i) { return values.data() + i * dim; }
};

// Per-Encoder settings. Process-wide ones (libtorch's threads, the activation buffer pool) are not
// here: the application sets them once with model::configure_compute.
struct EncoderOptions {
  size_t max_batch_tokens = 8192;  // padded tokens per batch (rows x longest row)
  size_t max_batch_size = 64;      // rows per batch
  size_t max_seq_length = 0;       // 0 = the model's max_seq_length; else min(model, this)
  size_t truncate_dim = 0;         // Matryoshka: keep the first N dims, then re-normalise (0 = all)
  bool show_progress = false;      // progress line on stderr (items, rate, ETA)
  // Precision of the transformer's linear layers (f32, bf16, int8), applied when the Encoder loads
  // the model; model().precision() says what runs on this CPU and why.
  Precision precision = Precision::F32;
};

struct EncodeStats {
  size_t texts = 0;
  size_t tokens = 0;          // real tokens fed to the model
  size_t padded_tokens = 0;   // rows x longest row, summed over batches
  size_t batches = 0;
  size_t truncated_texts = 0;
  double seconds = 0;         // wall time of tokenisation + model
  double flops = 0;           // linear layers + attention, as SentenceTransformer::forward_flops
};

class Encoder {
 public:
  // Loads the model directory `model_dir`, or ORG/NAME[@REVISION] from the local cache of
  // `memembed pull` (hub::resolve_model; NotFound naming the pull command when absent).
  Encoder(const std::filesystem::path& model_dir, EncoderOptions options = {});
  Encoder(std::shared_ptr<const model::SentenceTransformer> model, EncoderOptions options = {});
  ~Encoder();

  // The prompt string registered under `name` in config_sentence_transformers.json; throws
  // InvalidInput naming the known prompt names when it is not there.
  std::string prompt(const std::string& name) const;
  // The prompt sentence-transformers applies to an encode call: an explicit `prompt` wins (even
  // ""), else the prompt named `prompt_name`, else the model's default_prompt_name, else none.
  // Giving both is InvalidInput.
  std::string select_prompt(const std::optional<std::string>& prompt, const std::string& prompt_name) const;
  const std::map<std::string, std::string>& prompts() const;

  // Embeds `texts` with `prompt` prefixed to each. Texts must be valid UTF-8. Inputs longer than
  // the max sequence length are truncated (a warning goes to memembed::logger() once per
  // Encoder). Safe to call from many threads at once: the Encoder and its model are not changed
  // by encoding (each call runs its batches on libtorch's intra-op threads).
  Embeddings encode(const std::vector<std::string>& texts, const std::string& prompt = "",
                    EncodeStats* stats = nullptr) const;

  // Texts -> token ids exactly as encode() feeds them to the model: (prompt + text).strip(),
  // lowercased when the model asks for it, special tokens as the model uses them, truncated to the
  // max sequence length. `prompt_length` (optional) receives the prompt's own token count.
  std::vector<text::Encoding> tokenize(const std::vector<std::string>& texts, const std::string& prompt = "",
                                       int64_t* prompt_length = nullptr) const;

  size_t dimension() const;             // after truncate_dim
  size_t max_seq_length() const;
  std::string model_name() const;
  // The precision asked for and what runs on this CPU (notice set when it fell back to f32).
  const model::PrecisionPlan& precision() const;
  const model::SentenceTransformer& model() const { return *model_; }
  const EncoderOptions& options() const { return options_; }

 private:
  std::shared_ptr<const model::SentenceTransformer> model_;
  EncoderOptions options_;
  std::string model_name_;  // the hub id when loaded by one; else the model's directory name
  mutable std::atomic<bool> warned_truncation_{false};
};

// Identity of a model directory for cache keys and the memory store's vector sets: relative paths
// and sizes of its files, plus the content of files up to 4 MiB (configs, tokenizers) and the
// modification time of larger ones (SHA-256, hex).
std::string model_fingerprint(const std::filesystem::path& model_dir);

// Embeds `texts` into a JSONL file, one {"index": i, "embedding": [...]} line per text in input
// order, written chunk by chunk (`chunk_texts` texts each) so that an interrupted run keeps what
// it finished. With `resume`, the complete lines already in `output` are kept (a cut-off last
// line is removed) and embedding continues after them; more lines than texts is InvalidInput.
// Returns how many texts were already there. Floats are written in the shortest form that reads
// back as the same float32.
struct JsonlOutputOptions {
  bool resume = false;
  size_t chunk_texts = 2048;
  bool show_progress = true;  // items, rate and ETA on stderr (memembed::Progress)
};
size_t embed_to_jsonl(const Encoder& encoder, const std::vector<std::string>& texts, const std::string& prompt,
                      const std::filesystem::path& output, const JsonlOutputOptions& options = {});
// The same with any embedding function (texts -> rows in order; the prompt already bound), e.g.
// an endpoint's (provider.h).
using EmbedFunction = std::function<Embeddings(const std::vector<std::string>&)>;
size_t embed_to_jsonl(const EmbedFunction& embed, const std::vector<std::string>& texts,
                      const std::filesystem::path& output, const JsonlOutputOptions& options = {});

// The benchmark workload: `count` English-like texts whose lengths mimic agent memories (a quarter
// short chat turns of 5-15 words, half 16-60 words, a quarter 61-250 words), drawn from a fixed word
// list with SplitMix64 seeded by `seed`. The same (count, seed) gives the same texts everywhere.
std::vector<std::string> synthetic_workload(size_t count, uint64_t seed);

}  // namespace memembed::embed
