#include "buffer_pool.h"

#include <c10/core/CPUAllocator.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <unordered_map>

namespace memembed::model {

namespace {

constexpr size_t kAlignment = 64;
constexpr size_t kPooledFrom = size_t{1} << 20;  // smaller blocks: plain malloc
constexpr size_t kGranule = size_t{1} << 16;     // pooled sizes are rounded up to 64 KiB

void* aligned(size_t bytes) {
  void* data = nullptr;
  if (posix_memalign(&data, kAlignment, bytes == 0 ? kAlignment : bytes) != 0) throw std::bad_alloc();
  return data;
}

class BufferPool final : public c10::Allocator {
 public:
  explicit BufferPool(size_t max_cached_bytes) : max_cached_bytes_(max_cached_bytes) {}

  // The context is the data pointer itself (libtorch's raw_allocate requires that), so pooled
  // blocks are recognised by their address.
  c10::DataPtr allocate(size_t bytes) const override {
    void* data = bytes < kPooledFrom ? aligned(bytes) : take(bytes);
    return {data, data, &release, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &release; }

  static void release(void* data);

 private:
  // The smallest cached block that fits and wastes at most half of itself, else a new block.
  void* take(size_t bytes) const {
    const size_t size = (bytes + kGranule - 1) / kGranule * kGranule;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.lower_bound(size);
      if (it != free_.end() && it->first <= 2 * size) {
        void* data = it->second;
        cached_bytes_ -= it->first;
        free_.erase(it);
        return data;
      }
    }
    void* data = aligned(size);
    std::lock_guard<std::mutex> lock(mutex_);
    pooled_sizes_[data] = size;
    return data;
  }

  void give_back(void* data) const {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = pooled_sizes_.find(data);
      if (it == pooled_sizes_.end()) {
        // A small block: fall through to free().
      } else if (cached_bytes_ + it->second <= max_cached_bytes_) {
        cached_bytes_ += it->second;
        free_.emplace(it->second, data);
        return;
      } else {
        pooled_sizes_.erase(it);
      }
    }
    std::free(data);
  }

  size_t max_cached_bytes_;
  mutable std::mutex mutex_;
  mutable std::multimap<size_t, void*> free_;              // size -> cached block
  mutable std::unordered_map<void*, size_t> pooled_sizes_;  // every live or cached pooled block
  mutable size_t cached_bytes_ = 0;
};

BufferPool* g_pool = nullptr;

void BufferPool::release(void* data) {
  if (data != nullptr) g_pool->give_back(data);
}

}  // namespace

void install_buffer_pool(size_t max_cached_bytes) {
  static std::once_flag once;
  std::call_once(once, [max_cached_bytes] {
    // Lives for the whole process: tensors freed during static destruction still return here.
    g_pool = new BufferPool(max_cached_bytes);
    c10::SetCPUAllocator(g_pool, /*priority=*/1);
  });
}

}  // namespace memembed::model
