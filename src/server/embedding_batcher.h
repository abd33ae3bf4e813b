// Dynamic batching: concurrent embedding calls (HTTP /v1/embeddings, memory writes, searches) are
// merged into one model call. A single worker thread runs the model; while it runs, new calls
// queue, and the next model call takes every queued call of the same kind (documents, or queries of
// one category) up to `max_batch_texts` texts. No call waits for a timer: an idle server embeds a
// lone request at once, a busy one batches as much as has arrived.
#pragma once

#include "memembed/memory.h"

#include <condition_variable>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

namespace memembed::server {

class Metrics;

class BatchingEmbedder : public memory::Embedder {
 public:
  BatchingEmbedder(std::shared_ptr<const memory::Embedder> model, size_t max_batch_texts, Metrics& metrics);
  ~BatchingEmbedder() override;  // embeds what is queued, then stops the worker

  memory::ModelIdentity identity() const override { return model_->identity(); }
  embed::Embeddings embed_documents(const std::vector<std::string>& texts) const override;
  embed::Embeddings embed_queries(const std::vector<std::string>& texts,
                                  std::optional<memory::Category> category) const override;

  size_t queued_texts() const;
  const std::shared_ptr<const memory::Embedder>& model() const { return model_; }

 private:
  struct Call {
    bool queries = false;
    std::optional<memory::Category> category;
    const std::vector<std::string>* texts = nullptr;
    std::promise<embed::Embeddings> result;
    bool same_kind(const Call& other) const { return queries == other.queries && category == other.category; }
  };

  embed::Embeddings submit(bool queries, std::optional<memory::Category> category,
                           const std::vector<std::string>& texts) const;
  embed::Embeddings run_model(const Call& kind, const std::vector<std::string>& texts) const;
  void work();

  std::shared_ptr<const memory::Embedder> model_;
  size_t max_batch_texts_;
  Metrics& metrics_;
  mutable std::mutex mutex_;
  mutable std::condition_variable wake_;
  mutable std::deque<Call*> queue_;
  mutable size_t queued_texts_ = 0;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace memembed::server
