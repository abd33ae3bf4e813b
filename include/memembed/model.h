// model: a sentence-transformers model directory loaded as a pipeline of modules.
//
//   modules.json:  Transformer ("")  ->  Pooling (1_Pooling)  ->  Dense (2_Dense, ...)  ->  Normalize
//            or:   StaticEmbedding (0_StaticEmbedding)  ->  Normalize          (static embedding models)
//
// A model2vec directory (root model.safetensors with `embeddings`, tokenizer.json, config.json with
// `normalize`, no modules.json) loads as StaticEmbedding [-> Normalize] and saves back the same way.
//
// Each stage reads and adds entries of a shared Features record (input ids, attention mask, token
// embeddings, sentence embedding), exactly as sentence-transformers' modules pass a features dict.
// The Transformer stage is built from `config.json` by the architecture registry (BERT, Gemma3
// bidirectional, Qwen3, ...) with weights read from safetensors. Everything computes in float32,
// except the transformer's linear layers when a lower Precision is asked for.
#pragma once

#include "memembed/precision.h"
#include "memembed/text.h"

#include <ATen/ATen.h>

#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace memembed::model {

// Process-wide compute settings, set once by the application (the CLI, a server) before models
// run. Loading a model or constructing an Encoder never changes them.
struct ComputeSettings {
  int threads = 0;  // libtorch intra-op threads; 0 = all cores (libtorch itself defaults to one)
  // Freed activation buffers kept for reuse (see buffer_pool.h; saves a fifth of a forward pass
  // on large models). 0 = no pool. The pool is installed once per process: a later call keeps
  // the first cap.
  size_t buffer_pool_bytes = size_t{1} << 30;
};
void configure_compute(const ComputeSettings& settings);

// Sets libtorch's intra-op thread count (0 = all cores).
void set_compute_threads(int threads);
int compute_threads();

struct Features {
  at::Tensor input_ids;           // [batch, seq] int64
  at::Tensor attention_mask;      // [batch, seq] int64, 1 = real token, 0 = padding
  at::Tensor token_embeddings;    // [batch, seq, hidden] float32, set by the Transformer stage
  at::Tensor sentence_embedding;  // [batch, dim] float32, set by Pooling, changed by Dense/Normalize
  int64_t prompt_length = 0;      // leading prompt tokens, which Pooling skips when include_prompt is false
};

// Token-id rows padded into one batch (the longest row's length, at least 1), on the tokenizer's
// padding side with its pad id; the attention mask marks the real tokens.
Features pad_batch(const std::vector<const std::vector<text::TokenId>*>& rows, const text::Tokenizer& tokenizer);

// One sentence-transformers stage. `type_name` is the class string used in modules.json.
class Module {
 public:
  virtual ~Module() = default;
  virtual std::string type_name() const = 0;
  virtual void forward(Features& features) const = 0;
  // Writes this stage's files (config + weights) into `dir`, in the layout the Python library reads.
  virtual void save(const std::filesystem::path& dir) const = 0;
  // Trainable tensors of this stage (empty for parameter-free stages).
  virtual std::vector<at::Tensor> parameters() const { return {}; }
};

// How a model's embeddings are compared: `similarity_fn_name` in config_sentence_transformers.json
// (cosine when absent, as sentence-transformers assumes). Euclidean and Manhattan are negated
// distances, so that higher is always more similar.
enum class Similarity { Cosine, Dot, Euclidean, Manhattan };
const char* to_string(Similarity similarity);

struct LoadOptions {
  // Overrides sentence_bert_config.json max_seq_length (0 = keep the model's own).
  size_t max_seq_length = 0;
  // Precision of the transformer's linear layers (see Precision); falls back per plan_precision.
  Precision precision = Precision::F32;
  // At int8/bf16: keep only the packed linear weights, freeing the float32 ones as the layers are
  // read (a BERT's linear weights are most of its memory). The model then embeds but cannot be
  // trained or saved (parameters() and save() throw Unsupported).
  bool inference_only = false;
};

class SentenceTransformer {
 public:
  // Loads a model directory. Without modules.json: Transformer + mean pooling (a warning on
  // memembed::logger()).
  // Errors name the file and field or tensor (missing/corrupt files, unknown architecture, shape
  // mismatches).
  static std::unique_ptr<SentenceTransformer> load(const std::filesystem::path& dir,
                                                   const LoadOptions& options = {});

  // Runs every stage; returns the sentence embeddings [batch, dim].
  at::Tensor forward(Features& features) const;

  const text::Tokenizer& tokenizer() const { return *tokenizer_; }
  std::shared_ptr<const text::Tokenizer> shared_tokenizer() const { return tokenizer_; }

  const std::string& name() const { return name_; }           // directory name
  const std::string& architecture() const { return architecture_; }
  // The precision requested at load time and what runs (see plan_precision).
  const PrecisionPlan& precision() const { return precision_; }
  size_t max_seq_length() const { return max_seq_length_; }   // special tokens included; 0 = no limit
  // Whether texts are tokenised with the tokenizer's special tokens ([CLS] ... [SEP]); static
  // embedding models average plain word tokens.
  bool add_special_tokens() const { return add_special_tokens_; }
  size_t embedding_dimension() const { return embedding_dimension_; }
  size_t hidden_size() const { return hidden_size_; }
  const std::map<std::string, std::string>& prompts() const { return prompts_; }
  const std::optional<std::string>& default_prompt_name() const { return default_prompt_name_; }
  Similarity similarity() const { return similarity_; }
  const std::filesystem::path& source_dir() const { return source_dir_; }  // where it was loaded from
  const std::vector<std::unique_ptr<Module>>& modules() const { return modules_; }
  // sentence_bert_config.json do_lower_case: the text is lowercased before tokenisation.
  bool lowercase_input() const { return lowercase_input_; }
  // Every trainable tensor of every stage.
  std::vector<at::Tensor> parameters() const;

  // Floating point operations for one forward pass over a batch of `rows` sequences padded to
  // `sequence_length` (linear layers and attention), for throughput reporting.
  double forward_flops(size_t rows, size_t sequence_length) const;
  // The (in, out) shape of every linear layer applied to each token, for measuring the sgemm
  // ceiling on the same shapes.
  std::vector<std::pair<int64_t, int64_t>> linear_shapes() const;

  // Saves the whole pipeline in sentence-transformers layout (config, weights, tokenizer files,
  // modules.json).
  void save(const std::filesystem::path& dir) const;

 private:
  SentenceTransformer() = default;

  std::string name_;
  std::string architecture_;
  PrecisionPlan precision_;
  std::filesystem::path source_dir_;
  std::shared_ptr<const text::Tokenizer> tokenizer_;
  std::vector<std::unique_ptr<Module>> modules_;
  std::vector<std::string> module_paths_;  // folder of each stage, as modules.json lists it
  bool lowercase_input_ = false;
  bool add_special_tokens_ = true;
  size_t max_seq_length_ = 512;
  size_t embedding_dimension_ = 0;
  size_t hidden_size_ = 0;
  std::map<std::string, std::string> prompts_;
  std::optional<std::string> default_prompt_name_;
  Similarity similarity_ = Similarity::Cosine;
};

// Fills a model directory that has its configuration files (config.json, modules.json, stage
// configs, tokenizer) but no weights with seeded random weights of the shapes the architecture
// reads: `model.safetensors` and each Dense stage's weights. For benchmarks on real model shapes.
void write_random_weights(const std::filesystem::path& model_dir, uint64_t seed);

}  // namespace memembed::model
