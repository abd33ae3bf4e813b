#include "vector_index.h"

#include "memembed/error.h"
#include "memembed/json_io.h"
#include "memembed/log.h"
#include "memembed/retrieval.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace memembed::memory {

namespace {

// Rows scored per call of the SIMD kernel in the exact scan.
constexpr size_t kBlock = 256;
// Rows looked at to estimate which share of the set a filter admits.
constexpr size_t kSampleRows = 1024;
constexpr int kGraphFormat = 1;

namespace fs = std::filesystem;

fs::path manifest_of(const fs::path& graph_file) { return fs::path(graph_file.string() + ".json"); }

std::string file_sha256(const fs::path& file) {
  std::ifstream in = open_for_read(file);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!context || EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr) != 1) {
    throw Error(ErrorKind::Internal, "SHA-256 is not available");
  }
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    EVP_DigestUpdate(context.get(), buffer.data(), static_cast<size_t>(in.gcount()));
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned length = 0;
  EVP_DigestFinal_ex(context.get(), digest, &length);
  std::string hex;
  for (unsigned i = 0; i < length; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

// fsync of a file or directory: the rename that follows must not reach the disk before the data.
void sync_path(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    if (fd >= 0) ::close(fd);
    throw io_error("{}: cannot sync to disk", path.string());
  }
  ::close(fd);
}

}  // namespace

VectorIndex::VectorIndex(size_t dims, AnnOptions options, std::shared_mutex& guard)
    : dims_(dims), options_(options), guard_(guard) {}

VectorIndex::~VectorIndex() {
  stop_ = true;
  if (builder_.joinable()) builder_.join();
  if (graph_ && graph_changed_) save_graph();
}

void VectorIndex::finish_loading(const MemoryRows& rows) {
  loading_ = false;
  if (!options_.graph_file.empty()) rows_ = &rows;
  if (rows_ && options_.threshold != 0 && count_ >= options_.threshold) graph_ = load_saved_graph();
  maybe_build_graph();
}

void VectorIndex::discard_saved_graph() {
  rows_ = nullptr;
  if (options_.graph_file.empty()) return;
  std::error_code ec;
  fs::remove(options_.graph_file, ec);
  fs::remove(manifest_of(options_.graph_file), ec);
}

std::unique_ptr<AnnGraph> VectorIndex::load_saved_graph() {
  const fs::path& file = options_.graph_file;
  const fs::path manifest_file = manifest_of(file);
  std::error_code ec;
  if (!fs::exists(file, ec) && !fs::exists(manifest_file, ec)) return nullptr;
  const auto start = std::chrono::steady_clock::now();
  try {
    const Json manifest = read_json_file(manifest_file);
    if (manifest.value("format", 0) != kGraphFormat || manifest.value("identity", "") != options_.identity ||
        manifest.value("dims", size_t{0}) != dims_ || manifest.value("m", size_t{0}) != options_.parameters.m ||
        manifest.value("ef_construction", size_t{0}) != options_.parameters.ef_construction) {
      throw invalid_input("made for another vector set, format or parameters");
    }
    if (fs::file_size(file) != manifest.at("bytes").get<uintmax_t>() ||
        file_sha256(file) != manifest.at("sha256").get<std::string>()) {
      throw invalid_input("the file does not match its checksum");
    }
    std::unique_ptr<AnnGraph> graph = AnnGraph::load(file, dims_, options_.parameters);
    const Json& ids = manifest.at("ids");
    graph->relabel([&](uint64_t old_slot) -> std::optional<uint32_t> {
      if (old_slot >= ids.size()) return std::nullopt;
      const uint32_t slot = rows_->slot(ids[old_slot].get<std::string>());
      if (slot == MemoryRows::kNone || !contains(slot)) return std::nullopt;
      return slot;
    });
    std::vector<uint32_t> stale;
    for (uint32_t slot = 0; slot < present_.size(); ++slot) {
      if (present_[slot] && !graph->holds(slot, vector(slot))) stale.push_back(slot);
    }
    if (stale.size() > count_ / 2 || graph->deleted() > count_) {
      throw invalid_input("{} of {} vectors changed since it was saved", stale.size(), count_);
    }
    for (uint32_t slot : stale) graph->add(slot, vector(slot));
    graph_changed_ = !stale.empty() || graph->deleted() > 0;
    logger()->info("HNSW index of {} vectors loaded from {} in {:.2f} s ({} caught up)", graph->size(), file.string(),
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), stale.size());
    return graph;
  } catch (const std::exception& e) {
    logger()->warn("{}: saved HNSW index not used ({}); it is rebuilt", file.string(), e.what());
    return nullptr;
  }
}

void VectorIndex::save_graph() {
  if (!rows_ || !graph_) return;
  const fs::path& file = options_.graph_file;
  const fs::path temporary = file.string() + ".tmp";
  try {
    graph_->save(temporary);
    sync_path(temporary);
    Json ids = Json::array();
    for (uint32_t slot = 0; slot < present_.size(); ++slot) ids.push_back(contains(slot) ? rows_->id(slot) : "");
    const Json manifest = {{"format", kGraphFormat},
                           {"identity", options_.identity},
                           {"dims", dims_},
                           {"m", options_.parameters.m},
                           {"ef_construction", options_.parameters.ef_construction},
                           {"bytes", fs::file_size(temporary)},
                           {"sha256", file_sha256(temporary)},
                           {"ids", std::move(ids)}};
    fs::rename(temporary, file);
    write_json_file(manifest_of(file), manifest, -1);
    sync_path(manifest_of(file));
    sync_path(file.parent_path());
    graph_changed_ = false;
  } catch (const std::exception& e) {
    logger()->warn("{}: saving the HNSW index failed ({}); it is rebuilt or caught up on the next open",
                   file.string(), e.what());
  }
}

void VectorIndex::put(uint32_t slot, const float* vector) {
  if (present_.size() <= slot) {
    present_.resize(slot + 1, false);
    values_.resize(present_.size() * dims_);
  }
  std::copy(vector, vector + dims_, values_.data() + static_cast<size_t>(slot) * dims_);
  if (!present_[slot]) ++count_;
  present_[slot] = true;
  if (graph_) {
    graph_->add(slot, vector);
    graph_changed_ = true;
  } else if (building_) {
    changed_while_building_.push_back(slot);
  }
  if (!loading_) maybe_build_graph();
}

void VectorIndex::remove(uint32_t slot) {
  if (!contains(slot)) return;
  present_[slot] = false;
  --count_;
  if (graph_) {
    graph_->remove(slot);
    graph_changed_ = true;
  } else if (building_) {
    changed_while_building_.push_back(slot);
  }
}

void VectorIndex::maybe_build_graph() {
  if (graph_ || building_ || options_.threshold == 0 || count_ < options_.threshold) return;
  building_ = true;
  if (options_.background) builder_ = std::thread([this] { build_graph(false); });
  else build_graph(true);
}

void VectorIndex::build_graph(bool locked) {
  // Runs `work` holding the lock as asked; false when stopped while waiting for it.
  auto holding = [&](bool exclusive, auto&& work) {
    if (locked) {
      work();
      return true;
    }
    while (!(exclusive ? guard_.try_lock() : guard_.try_lock_shared())) {
      if (stop_) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    work();
    if (exclusive) guard_.unlock();
    else guard_.unlock_shared();
    return true;
  };
  try {
    std::unique_ptr<AnnGraph> graph;
    std::vector<uint32_t> slots;
    std::vector<float> chunk;
    size_t next = 0;
    for (bool done = false; !done;) {
      slots.clear();
      chunk.clear();
      const bool held = holding(false, [&] {
        if (!graph) graph = std::make_unique<AnnGraph>(dims_, present_.size() + present_.size() / 4, options_.parameters);
        const size_t end = std::min(present_.size(), next + 1024);
        for (size_t s = next; s < end; ++s) {
          if (!present_[s]) continue;
          slots.push_back(static_cast<uint32_t>(s));
          chunk.insert(chunk.end(), vector(static_cast<uint32_t>(s)), vector(static_cast<uint32_t>(s)) + dims_);
        }
        next = end;
        done = next >= present_.size();
      });
      if (!held) return;
      for (size_t i = 0; i < slots.size(); ++i) {
        if (stop_) return;
        graph->add(slots[i], chunk.data() + i * dims_);
      }
    }
    holding(true, [&] {
      for (uint32_t slot : changed_while_building_) {
        if (contains(slot)) graph->add(slot, vector(slot));
        else graph->remove(slot);
      }
      changed_while_building_.clear();
      graph_ = std::move(graph);
      graph_changed_ = true;  // not saved yet
      building_ = false;
    });
    holding(false, [&] { save_graph(); });
  } catch (const std::exception& e) {
    // The exact scan keeps serving; the graph is only an accelerator.
    logger()->warn("building the HNSW index of {} vectors failed ({}); searches stay exact", count_, e.what());
  }
}

std::vector<VectorIndex::Hit> VectorIndex::search(const float* query, const RowFilter& filter, const MemoryRows& rows,
                                                  size_t k) const {
  if (k == 0 || filter.matches_nothing() || count_ == 0) return {};
  if (graph_) {
    const size_t stride = std::max<size_t>(1, present_.size() / kSampleRows);
    size_t sampled = 0, admitted = 0;
    for (size_t s = 0; s < present_.size(); s += stride) {
      if (!present_[s]) continue;
      ++sampled;
      admitted += filter.admits(static_cast<uint32_t>(s)) ? 1 : 0;
    }
    if (sampled > 0 && static_cast<double>(admitted) >= kExactBelowShare * static_cast<double>(sampled)) {
      const auto found =
          graph_->search(query, k, [&](uint32_t slot) { return contains(slot) && filter.admits(slot); });
      if (found.size() == k) {
        TopSlots<float> best(rows, k);
        for (const auto& [slot, distance] : found) {
          float score = 0.0f;
          retrieval::dot_rows(query, vector(slot), 1, dims_, &score);
          best.offer(slot, score);
        }
        return best.take();
      }
    }
  }
  return exact_search(query, filter, rows, k);
}

std::vector<VectorIndex::Hit> VectorIndex::exact_search(const float* query, const RowFilter& filter,
                                                        const MemoryRows& rows, size_t k) const {
  if (k == 0 || filter.matches_nothing()) return {};
  TopSlots<float> best(rows, k);
  uint32_t admitted[kBlock];
  float scores[kBlock];
  for (size_t begin = 0; begin < present_.size(); begin += kBlock) {
    const size_t end = std::min(present_.size(), begin + kBlock);
    size_t n = 0;
    for (size_t s = begin; s < end; ++s) {
      if (present_[s] && filter.admits(static_cast<uint32_t>(s))) admitted[n++] = static_cast<uint32_t>(s);
    }
    // Runs of consecutive admitted rows go to the kernel together.
    for (size_t i = 0; i < n;) {
      size_t j = i + 1;
      while (j < n && admitted[j] == admitted[j - 1] + 1) ++j;
      retrieval::dot_rows(query, vector(admitted[i]), j - i, dims_, scores + i);
      i = j;
    }
    for (size_t i = 0; i < n; ++i) best.offer(admitted[i], scores[i]);
  }
  return best.take();
}

}  // namespace memembed::memory
