// Dense retrieval with the embedding engine: documents ranked by the model's declared similarity
// (config_sentence_transformers.json similarity_fn_name: cosine when absent, dot, euclidean,
// manhattan) over float32 embeddings, documents embedded once per corpus and cached on disk.
// Only compiled when the embed module is part of the build (see CMakeLists.txt).
#pragma once

#include "retriever.h"

#include <memory>

namespace memembed::eval {

std::unique_ptr<Retriever> make_dense_retriever(const RetrieverConfig& config);

// Identity of a loaded model directory (the resolved directory, never a hub name) for cache keys:
// relative paths and sizes of its files, plus the content of files up to 4 MiB (configs,
// tokenizers) and the modification time of larger ones (weights).
std::string model_fingerprint(const std::filesystem::path& model_dir);

}  // namespace memembed::eval
