#include "safetensors.h"

#include "memembed/error.h"
#include "memembed/json_io.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <fstream>

#include <ATen/CPUGeneratorImpl.h>

namespace memembed::model {

namespace fs = std::filesystem;

namespace {

struct DtypeSpec {
  const char* name;
  StoredDtype dtype;
  size_t bytes;
};

constexpr DtypeSpec kDtypes[] = {
    {"F64", StoredDtype::F64, 8},   {"F32", StoredDtype::F32, 4},
    {"F16", StoredDtype::F16, 2},   {"BF16", StoredDtype::BF16, 2},
    {"I64", StoredDtype::I64, 8},   {"I32", StoredDtype::I32, 4},
    {"I16", StoredDtype::I16, 2},   {"I8", StoredDtype::I8, 1},
    {"U8", StoredDtype::U8, 1},     {"BOOL", StoredDtype::Bool, 1},
    {"F8_E4M3", StoredDtype::F8_E4M3, 1}, {"F8_E5M2", StoredDtype::F8_E5M2, 1},
};

const DtypeSpec& spec_of(StoredDtype dtype) {
  for (const auto& spec : kDtypes) {
    if (spec.dtype == dtype) return spec;
  }
  MEMEMBED_ASSERT(false);
  return kDtypes[0];
}

std::string shape_string(const std::vector<int64_t>& shape) {
  return "[" + fmt::format("{}", fmt::join(shape, ", ")) + "]";
}

// Header lengths above this are certainly corrupt (real headers are kilobytes to a few MB).
constexpr uint64_t kMaxHeaderBytes = 100u << 20;

}  // namespace

const char* to_string(StoredDtype dtype) { return spec_of(dtype).name; }

SafetensorsFile::SafetensorsFile(const fs::path& path) : path_(path) {
  const std::string where = path.string();
  const int fd = ::open(where.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (!fs::exists(path)) throw not_found("{}: no such file", where);
    throw io_error("{}: cannot open: {}", where, std::strerror(errno));
  }
  struct stat status {};
  if (::fstat(fd, &status) != 0) {
    ::close(fd);
    throw io_error("{}: cannot stat: {}", where, std::strerror(errno));
  }
  const auto file_size = static_cast<uint64_t>(status.st_size);
  if (file_size < 8) {
    ::close(fd);
    throw invalid_input("{}: truncated safetensors file ({} bytes, the 8-byte header length is missing)",
                        where, file_size);
  }
  void* mapping = ::mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (mapping == MAP_FAILED) throw io_error("{}: mmap failed: {}", where, std::strerror(errno));
  mapping_ = mapping;
  mapped_size_ = file_size;
  const auto* bytes = static_cast<const uint8_t*>(mapping);

  try {
    uint64_t header_length = 0;
    for (int i = 7; i >= 0; --i) header_length = (header_length << 8) | bytes[i];
    if (header_length > kMaxHeaderBytes || 8 + header_length > file_size) {
      throw invalid_input("{}: bad header: declared header length {} does not fit in a file of {} bytes",
                          where, header_length, file_size);
    }
    data_ = bytes + 8 + header_length;
    const uint64_t data_size = file_size - 8 - header_length;

    Json header;
    try {
      header = Json::parse(reinterpret_cast<const char*>(bytes + 8),
                           reinterpret_cast<const char*>(bytes + 8 + header_length));
    } catch (const Json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
      throw invalid_input("{}: bad header: not valid JSON ({})", where, e.what());
    }
    if (!header.is_object()) throw invalid_input("{}: bad header: expected a JSON object", where);

    std::vector<const TensorInfo*> spans;
    for (auto it = header.begin(); it != header.end(); ++it) {
      if (it.key() == "__metadata__") {
        if (it->is_object()) {
          for (auto m = it->begin(); m != it->end(); ++m) {
            if (m->is_string()) metadata_[m.key()] = m->get<std::string>();
          }
        }
        continue;
      }
      const std::string context = fmt::format("{}: tensor \"{}\"", where, it.key());
      const Json& entry = *it;
      if (!entry.is_object()) throw invalid_input("{}: header entry is not an object", context);
      const std::string dtype_name = require_string(entry, "dtype", context);
      const DtypeSpec* spec = nullptr;
      for (const auto& candidate : kDtypes) {
        if (dtype_name == candidate.name) spec = &candidate;
      }
      if (spec == nullptr) throw unsupported("{}: unknown dtype \"{}\"", context, dtype_name);

      TensorInfo info;
      info.name = it.key();
      info.dtype = spec->dtype;
      const auto shape = entry.find("shape");
      if (shape == entry.end() || !shape->is_array()) {
        throw invalid_input("{}: missing or invalid \"shape\"", context);
      }
      // The byte count is checked against the data span below; computing it must not wrap, and
      // every dimension must fit the int64 a tensor size is.
      uint64_t elements = 1;
      for (const auto& dim : *shape) {
        if (!dim.is_number_unsigned()) throw invalid_input("{}: shape entries must be non-negative integers", context);
        const uint64_t size = dim.get<uint64_t>();
        if (size > static_cast<uint64_t>(INT64_MAX) || __builtin_mul_overflow(elements, size, &elements)) {
          throw invalid_input("{}: shape {} is too large", context, shape->dump());
        }
        info.shape.push_back(static_cast<int64_t>(size));
      }
      uint64_t byte_count = 0;
      if (__builtin_mul_overflow(elements, static_cast<uint64_t>(spec->bytes), &byte_count)) {
        throw invalid_input("{}: shape {} of {} is too large", context, shape->dump(), dtype_name);
      }
      const auto offsets = entry.find("data_offsets");
      if (offsets == entry.end() || !offsets->is_array() || offsets->size() != 2 ||
          !(*offsets)[0].is_number_unsigned() || !(*offsets)[1].is_number_unsigned()) {
        throw invalid_input("{}: \"data_offsets\" must be two non-negative integers", context);
      }
      info.begin = (*offsets)[0].get<uint64_t>();
      info.end = (*offsets)[1].get<uint64_t>();
      if (info.begin > info.end || info.end > data_size) {
        throw invalid_input("{}: data offsets [{}, {}) lie outside the {} bytes of tensor data (truncated file?)",
                            context, info.begin, info.end, data_size);
      }
      if (byte_count != info.end - info.begin) {
        throw invalid_input("{}: shape {} of {} needs {} bytes but the data span is {} bytes", context,
                            shape_string(info.shape), dtype_name, byte_count, info.end - info.begin);
      }
      auto [slot, inserted] = tensors_.emplace(info.name, std::move(info));
      (void)inserted;
      spans.push_back(&slot->second);
    }
    std::sort(spans.begin(), spans.end(),
              [](const TensorInfo* a, const TensorInfo* b) { return a->begin < b->begin; });
    for (size_t i = 1; i < spans.size(); ++i) {
      if (spans[i]->begin < spans[i - 1]->end) {
        throw invalid_input("{}: tensors \"{}\" and \"{}\" overlap in the data area", where,
                            spans[i - 1]->name, spans[i]->name);
      }
    }
  } catch (...) {
    ::munmap(mapping_, mapped_size_);
    mapping_ = nullptr;
    throw;
  }
}

SafetensorsFile::~SafetensorsFile() {
  if (mapping_ != nullptr) ::munmap(mapping_, mapped_size_);
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

void SafetensorsFile::release_pages(uint64_t begin, uint64_t end) const {
  // The copy is what the model keeps. Without this the mapped file stays resident next to it until
  // the file is closed after loading: every weight counted twice at the peak. The mapping is
  // private and read-only, so dropped pages are simply read again if the tensor is read again.
  static const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto first = (reinterpret_cast<uintptr_t>(data_ + begin) + page - 1) / page * page;
  const auto last = reinterpret_cast<uintptr_t>(data_ + end) / page * page;
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

at::Tensor SafetensorsFile::read_float32(const TensorInfo& info) const {
  at::ScalarType stored;
  switch (info.dtype) {
    case StoredDtype::F32: stored = at::kFloat; break;
    case StoredDtype::F16: stored = at::kHalf; break;
    case StoredDtype::BF16: stored = at::kBFloat16; break;
    case StoredDtype::F64: stored = at::kDouble; break;
    default:
      throw unsupported("{}: tensor \"{}\" has dtype {}, but model weights must be F32, F16, BF16 or F64",
                        path_.string(), info.name, to_string(info.dtype));
  }
  // Copy into an aligned buffer first: the mapped data need not be aligned to the element size.
  at::Tensor raw = at::empty(info.shape, at::TensorOptions().dtype(stored));
  // An empty tensor (a 0 in its shape) has no buffer: memcpy from or to null is undefined even for
  // 0 bytes.
  // Copied in slices, each slice's mapped pages dropped once copied: a tensor as large as
  // EmbeddingGemma's 262144 x 768 embedding (805 MB) was otherwise resident twice at the load's peak.
  constexpr uint64_t slice = uint64_t{16} << 20;
  auto* copy = static_cast<uint8_t*>(raw.data_ptr());
  for (uint64_t at = info.begin; at < info.end; at += slice) {
    const uint64_t bytes = std::min(slice, info.end - at);
    std::memcpy(copy + (at - info.begin), data_ + at, bytes);
    release_pages(info.begin, at + bytes);
  }
  return stored == at::kFloat ? raw : raw.to(at::kFloat);
}

WeightSource WeightSource::open_file(const fs::path& file) {
  WeightSource source;
  source.files_.push_back(std::make_shared<SafetensorsFile>(file));
  source.prefixes_ = {"", "bert.", "model.", "roberta.", "transformer."};
  return source;
}

WeightSource WeightSource::open_directory(const fs::path& dir) {
  const fs::path single = dir / "model.safetensors";
  if (fs::exists(single)) return open_file(single);
  const fs::path index_path = dir / "model.safetensors.index.json";
  if (!fs::exists(index_path)) {
    std::string hint;
    if (fs::exists(dir / "pytorch_model.bin")) {
      hint = " (pytorch_model.bin is present, but only safetensors weights are supported: convert it with "
             "`safetensors` or re-save the model with save_pretrained(safe_serialization=True))";
    }
    throw not_found("{}: no model weights: neither model.safetensors nor model.safetensors.index.json{}",
                    dir.string(), hint);
  }
  const Json index = read_json_file(index_path);
  const auto map = index.find("weight_map");
  if (map == index.end() || !map->is_object()) {
    throw invalid_input("{}: missing object \"weight_map\"", index_path.string());
  }
  WeightSource source;
  source.prefixes_ = {"", "bert.", "model.", "roberta.", "transformer."};
  std::map<std::string, size_t> shard_index;
  for (auto it = map->begin(); it != map->end(); ++it) {
    if (!it->is_string()) {
      throw invalid_input("{}: weight_map[\"{}\"] must be a file name", index_path.string(), it.key());
    }
    const std::string shard = it->get<std::string>();
    auto found = shard_index.find(shard);
    if (found == shard_index.end()) {
      const std::string where = fmt::format("{}: weight_map[\"{}\"]", index_path.string(), it.key());
      source.files_.push_back(std::make_shared<SafetensorsFile>(path_inside(dir, shard, where)));
      found = shard_index.emplace(shard, source.files_.size() - 1).first;
    }
    if (source.files_[found->second]->find(it.key()) == nullptr) {
      throw invalid_input("{}: weight_map says \"{}\" is in {}, but that shard has no such tensor",
                          index_path.string(), it.key(), shard);
    }
    source.shard_of_[it.key()] = found->second;
  }
  return source;
}

std::optional<WeightSource::Located> WeightSource::locate(const std::string& name) const {
  for (const auto& prefix : prefixes_) {
    const std::string full = prefix + name;
    if (!shard_of_.empty()) {
      auto it = shard_of_.find(full);
      if (it != shard_of_.end()) {
        const auto& file = files_[it->second];
        return Located{file.get(), file->find(full)};
      }
      continue;
    }
    for (const auto& file : files_) {
      if (const TensorInfo* info = file->find(full)) return Located{file.get(), info};
    }
  }
  return std::nullopt;
}

WeightSource WeightSource::random(uint64_t seed, bool zero_centered_norms) {
  WeightSource source;
  source.random_ = RandomSpec{seed, zero_centered_norms};
  return source;
}

bool WeightSource::contains(const std::string& name) const { return random_ || locate(name).has_value(); }

at::Tensor WeightSource::load(const std::string& name, const std::vector<int64_t>& expected_shape) const {
  auto tensor = load_optional(name, expected_shape);
  if (!tensor) throw not_found("{}: missing tensor \"{}\"", describe(), name);
  return *tensor;
}

std::optional<at::Tensor> WeightSource::load_optional(const std::string& name,
                                                      const std::vector<int64_t>& expected_shape) const {
  if (random_) {
    // Each tensor gets its own generator seeded from its name, so the weights do not depend on the
    // order in which an architecture asks for them.
    const bool is_norm = name.find("norm") != std::string::npos || name.find("LayerNorm") != std::string::npos;
    const bool is_bias = name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
    if (is_bias || (is_norm && random_->zero_centered_norms)) return at::zeros(expected_shape);
    if (is_norm) return at::ones(expected_shape);
    uint64_t name_hash = 1469598103934665603ull;  // FNV-1a: stable across platforms and runs
    for (const char c : name) name_hash = (name_hash ^ static_cast<uint8_t>(c)) * 1099511628211ull;
    auto generator = at::make_generator<at::CPUGeneratorImpl>(random_->seed ^ name_hash);
    return at::normal(0.0, 0.02, expected_shape, generator);
  }
  const auto located = locate(name);
  if (!located) return std::nullopt;
  if (located->info->shape != expected_shape) {
    throw invalid_input("{}: tensor \"{}\" has shape {} but config.json implies {}",
                        located->file->path().string(), located->info->name,
                        shape_string(located->info->shape), shape_string(expected_shape));
  }
  return located->file->read_float32(*located->info);
}

std::vector<std::string> WeightSource::names() const {
  std::vector<std::string> result;
  for (const auto& file : files_) {
    for (const auto& [name, info] : file->tensors()) result.push_back(name);
  }
  return result;
}

std::string WeightSource::describe() const {
  if (files_.size() == 1) return files_.front()->path().string();
  return fmt::format("{} ({} shards)", files_.front()->path().parent_path().string(), files_.size());
}

void write_safetensors(const fs::path& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  Json header = Json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  std::vector<at::Tensor> contiguous;
  for (const auto& [name, tensor] : tensors) {
    at::Tensor t = tensor.detach().to(at::kCPU).to(at::kFloat).contiguous();
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * 4;
    header[name] = {{"dtype", "F32"}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    contiguous.push_back(std::move(t));
  }
  std::string header_text = header.dump();
  // Pad the header with spaces so the data area starts 8-byte aligned, as the reference writer does.
  while ((8 + header_text.size()) % 8 != 0) header_text.push_back(' ');

  fs::path temporary = path;
  temporary += ".tmp";
  {
    std::ofstream out = open_for_write(temporary);
    uint64_t length = header_text.size();
    char length_bytes[8];
    for (int i = 0; i < 8; ++i) length_bytes[i] = static_cast<char>((length >> (8 * i)) & 0xFF);
    out.write(length_bytes, 8);
    out.write(header_text.data(), static_cast<std::streamsize>(header_text.size()));
    for (const auto& t : contiguous) {
      out.write(static_cast<const char*>(t.data_ptr()), static_cast<std::streamsize>(t.numel() * 4));
    }
    if (!out.flush()) throw io_error("{}: write failed", temporary.string());
  }
  fs::rename(temporary, path);
}

}  // namespace memembed::model
