// Dense retrieval with the embedding engine: cosine similarity of L2-normalised float32
// embeddings (a dot product), documents embedded once per corpus and cached on disk.
// Only compiled when the embed module is part of the build (see CMakeLists.txt).
#pragma once

#include "retriever.h"

#include <memory>

namespace memembed::eval {

std::unique_ptr<Retriever> make_dense_retriever(const RetrieverConfig& config);

// "hybrid:DIR": BM25 and the dense model DIR fused per query within its scope by
// retrieval::fuse_rows - the memory store's hybrid ranking (without recency: tasks have no time).
std::unique_ptr<Retriever> make_hybrid_retriever(const RetrieverConfig& config);

}  // namespace memembed::eval
