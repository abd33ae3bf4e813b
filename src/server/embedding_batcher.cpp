#include "embedding_batcher.h"

#include "metrics.h"

#include <cstring>

namespace memembed::server {

BatchingEmbedder::BatchingEmbedder(std::shared_ptr<const memory::Embedder> model, size_t max_batch_texts,
                                   Metrics& metrics)
    : model_(std::move(model)), max_batch_texts_(std::max<size_t>(1, max_batch_texts)), metrics_(metrics) {
  worker_ = std::thread([this] { work(); });
}

BatchingEmbedder::~BatchingEmbedder() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  worker_.join();
}

embed::Embeddings BatchingEmbedder::embed_documents(const std::vector<std::string>& texts) const {
  return submit(false, std::nullopt, texts);
}

embed::Embeddings BatchingEmbedder::embed_queries(const std::vector<std::string>& texts,
                                                  std::optional<memory::Category> category) const {
  return submit(true, category, texts);
}

size_t BatchingEmbedder::queued_texts() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return queued_texts_;
}

embed::Embeddings BatchingEmbedder::submit(bool queries, std::optional<memory::Category> category,
                                           const std::vector<std::string>& texts) const {
  Call call;
  call.queries = queries;
  call.category = category;
  call.texts = &texts;
  if (texts.empty()) return run_model(call, texts);
  auto result = call.result.get_future();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(&call);
    queued_texts_ += texts.size();
  }
  wake_.notify_one();
  return result.get();  // the worker fulfils the promise before `call` goes out of scope
}

embed::Embeddings BatchingEmbedder::run_model(const Call& kind, const std::vector<std::string>& texts) const {
  return kind.queries ? model_->embed_queries(texts, kind.category) : model_->embed_documents(texts);
}

void BatchingEmbedder::work() {
  for (;;) {
    std::vector<Call*> batch;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      // The oldest call, then every queued call of its kind that still fits.
      size_t texts = 0;
      for (auto it = queue_.begin(); it != queue_.end();) {
        Call* call = *it;
        const bool fits = batch.empty() || texts + call->texts->size() <= max_batch_texts_;
        if (fits && (batch.empty() || call->same_kind(*batch.front()))) {
          batch.push_back(call);
          texts += call->texts->size();
          queued_texts_ -= call->texts->size();
          it = queue_.erase(it);
        } else {
          ++it;
        }
      }
    }
    metrics_.observe_encoder_batch([&] {
      size_t texts = 0;
      for (const Call* call : batch) texts += call->texts->size();
      return texts;
    }(), batch.size());

    if (batch.size() == 1) {
      try {
        batch[0]->result.set_value(run_model(*batch[0], *batch[0]->texts));
      } catch (...) {
        batch[0]->result.set_exception(std::current_exception());
      }
      continue;
    }
    std::vector<std::string> texts;
    for (const Call* call : batch) texts.insert(texts.end(), call->texts->begin(), call->texts->end());
    embed::Embeddings merged;
    try {
      merged = run_model(*batch.front(), texts);
    } catch (...) {
      // One bad call must not fail the others: run each alone so the error reaches only its caller.
      for (Call* call : batch) {
        try {
          call->result.set_value(run_model(*call, *call->texts));
        } catch (...) {
          call->result.set_exception(std::current_exception());
        }
      }
      continue;
    }
    size_t row = 0;
    for (Call* call : batch) {
      embed::Embeddings part;
      part.rows = call->texts->size();
      part.dim = merged.dim;
      part.values.assign(merged.values.begin() + static_cast<std::ptrdiff_t>(row * merged.dim),
                         merged.values.begin() + static_cast<std::ptrdiff_t>((row + part.rows) * merged.dim));
      row += part.rows;
      call->result.set_value(std::move(part));
    }
  }
}

}  // namespace memembed::server
