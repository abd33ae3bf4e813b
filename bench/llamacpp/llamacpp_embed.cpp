// What llama.cpp's `llama-embedding` does, on libllama's C API alone: for when the CLI cannot be
// built but libllama can be had prebuilt (node-llama-cpp's @node-llama-cpp/linux-x64 package ships
// libllama and the ggml CPU backends of the same llama.cpp release). Same batching: texts are
// packed in order into one batch of up to -c tokens (one sequence each), the memory is cleared,
// the batch decoded, each sequence's pooled vector L2-normalised. Accepts the subset of
// llama-embedding's options compare.py passes, prints the same JSON and "prompt eval time" line.
//
//   llamacpp_embed -m M.gguf -f texts.txt -t 1 -c 2048 [--embd-output-format json]
//   llamacpp_embed --quantize in.gguf out.gguf          (q8_0, as llama-quantize ... q8_0)
//
// Build (LLAMA = llama.cpp source, BINS = the package's bins/linux-x64):
//   g++ -O2 -std=c++17 -I$LLAMA/include -I$LLAMA/ggml/include llamacpp_embed.cpp \
//     $BINS/libllama.v0.5.0.so $BINS/libggml.v0.5.0.so $BINS/libggml-base.so -Wl,-rpath,$BINS -o llamacpp_embed
#include "ggml-backend.h"
#include "llama.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace {

[[noreturn]] void fail(const std::string& message) {
  std::fprintf(stderr, "llamacpp_embed: %s\n", message.c_str());
  std::exit(1);
}

std::string library_dir() {  // where libllama was loaded from: the CPU backends lie beside it
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    const auto at = line.find('/');
    if (at != std::string::npos && line.find("libllama") != std::string::npos) {
      const std::string path = line.substr(at);
      return path.substr(0, path.rfind('/'));
    }
  }
  return ".";
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_path, texts_path, format;
  int threads = 1, context = 2048;
  if (argc == 4 && std::strcmp(argv[1], "--quantize") == 0) {
    llama_model_quantize_params params = llama_model_quantize_default_params();
    params.ftype = LLAMA_FTYPE_MOSTLY_Q8_0;
    ggml_backend_load_all_from_path(library_dir().c_str());
    return llama_model_quantize(argv[2], argv[3], &params) == 0 ? 0 : 1;
  }
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) fail(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "-m") model_path = value();
    else if (arg == "-f") texts_path = value();
    else if (arg == "-t" || arg == "-tb") threads = std::atoi(value().c_str());
    else if (arg == "-c") context = std::atoi(value().c_str());
    else if (arg == "--embd-output-format") format = value();
    else if (arg == "--embd-normalize") { if (value() != "2") fail("only --embd-normalize 2"); }
    else if (arg == "--no-warmup") {}
    else fail("unknown option " + arg);
  }
  if (model_path.empty() || texts_path.empty()) fail("-m MODEL and -f TEXTS are required");

  llama_backend_init();
  ggml_backend_load_all_from_path(library_dir().c_str());
  llama_model* model = llama_model_load_from_file(model_path.c_str(), llama_model_default_params());
  if (model == nullptr) fail("cannot load " + model_path);
  llama_context_params params = llama_context_default_params();
  params.embeddings = true;
  params.n_ctx = params.n_batch = params.n_ubatch = static_cast<uint32_t>(context);
  params.n_threads = params.n_threads_batch = threads;
  params.n_seq_max = static_cast<uint32_t>(llama_max_parallel_sequences());
  params.kv_unified = true;
  params.no_perf = false;
  llama_context* ctx = llama_init_from_model(model, params);
  if (ctx == nullptr) fail("cannot create a context");
  const llama_vocab* vocab = llama_model_get_vocab(model);
  const int dim = llama_model_n_embd_out(model);

  std::vector<std::vector<llama_token>> inputs;
  std::ifstream in(texts_path);
  for (std::string line; std::getline(in, line);) {
    std::vector<llama_token> tokens(line.size() + 8);
    const int n = llama_tokenize(vocab, line.data(), static_cast<int32_t>(line.size()), tokens.data(),
                                 static_cast<int32_t>(tokens.size()), /*add_special=*/true, /*parse_special=*/true);
    if (n < 0) fail("tokenizing failed");
    tokens.resize(static_cast<size_t>(n));
    if (n > context) fail("a text has " + std::to_string(n) + " tokens, more than -c");
    inputs.push_back(std::move(tokens));
  }

  std::vector<float> vectors(inputs.size() * static_cast<size_t>(dim));
  llama_batch batch = llama_batch_init(context, 0, 1);
  const int max_sequences = static_cast<int>(llama_max_parallel_sequences());
  size_t done = 0, tokens_total = 0;
  double seconds = 0;
  const auto decode = [&](size_t first, int sequences) {
    llama_memory_clear(llama_get_memory(ctx), true);
    const auto start = std::chrono::steady_clock::now();
    if (llama_decode(ctx, batch) < 0) fail("decode failed");
    for (int s = 0; s < sequences; ++s) {
      const float* e = llama_get_embeddings_seq(ctx, s);
      if (e == nullptr) fail("no pooled embedding (is the model's pooling type none?)");
      double norm = 0;
      for (int j = 0; j < dim; ++j) norm += static_cast<double>(e[j]) * e[j];
      const float scale = norm > 0 ? static_cast<float>(1.0 / std::sqrt(norm)) : 0.0f;
      float* out = vectors.data() + (first + static_cast<size_t>(s)) * static_cast<size_t>(dim);
      for (int j = 0; j < dim; ++j) out[j] = e[j] * scale;
    }
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    tokens_total += static_cast<size_t>(batch.n_tokens);
    batch.n_tokens = 0;
  };
  int sequences = 0;
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (batch.n_tokens + static_cast<int>(inputs[k].size()) > context || sequences >= max_sequences) {
      decode(done, sequences);
      done += static_cast<size_t>(sequences);
      sequences = 0;
    }
    for (size_t i = 0; i < inputs[k].size(); ++i) {
      const int at = batch.n_tokens++;
      batch.token[at] = inputs[k][i];
      batch.pos[at] = static_cast<llama_pos>(i);
      batch.n_seq_id[at] = 1;
      batch.seq_id[at][0] = sequences;
      batch.logits[at] = true;
    }
    ++sequences;
  }
  if (sequences > 0) decode(done, sequences);

  std::fprintf(stderr, "prompt eval time = %.2f ms / %zu tokens\n", seconds * 1e3, tokens_total);
  if (format == "json") {
    std::printf("{\"object\": \"list\", \"data\": [");
    for (size_t k = 0; k < inputs.size(); ++k) {
      std::printf("%s{\"object\": \"embedding\", \"index\": %zu, \"embedding\": [", k ? ", " : "", k);
      for (int j = 0; j < dim; ++j) std::printf("%s%.7g", j ? "," : "", vectors[k * static_cast<size_t>(dim) + j]);
      std::printf("]}");
    }
    std::printf("]}\n");
  }
  llama_batch_free(batch);
  llama_free(ctx);
  llama_model_free(model);
  return 0;
}
