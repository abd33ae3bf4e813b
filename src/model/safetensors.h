// Reading and writing safetensors files: 8-byte little-endian header length, a JSON header
// describing each tensor (dtype, shape, data_offsets), then raw little-endian data.
//
// Files are memory-mapped and the whole header is validated on open (header length within the file,
// known dtypes, offsets inside the data area, no overlap, element count x dtype size == byte span),
// so later reads trust it. Weights come out as float32 tensors whatever the stored float dtype.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace memembed::model {

enum class StoredDtype { F64, F32, F16, BF16, I64, I32, I16, I8, U8, Bool, F8_E4M3, F8_E5M2 };

const char* to_string(StoredDtype dtype);

struct TensorInfo {
  std::string name;
  StoredDtype dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets within the data area
  uint64_t end = 0;
};

class SafetensorsFile {
 public:
  // Maps and validates `path`; throws InvalidInput naming the file and the problem.
  explicit SafetensorsFile(const std::filesystem::path& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // A float32 copy of the tensor (f16/bf16/f64 converted). Non-float dtypes are Unsupported.
  at::Tensor read_float32(const TensorInfo& info) const;

 private:
  // Drops the mapped pages of data bytes [begin, end) from memory (whole pages inside the range).
  void release_pages(uint64_t begin, uint64_t end) const;

  std::filesystem::path path_;
  const uint8_t* data_ = nullptr;  // start of the data area
  size_t mapped_size_ = 0;
  void* mapping_ = nullptr;
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// All weights of a model directory: `model.safetensors`, or the shards listed in
// `model.safetensors.index.json`. Tensor names are looked up with and without a common prefix
// (`bert.`, `model.`), since sentence-transformers and HF save the same model both ways.
class WeightSource {
 public:
  static WeightSource open_directory(const std::filesystem::path& dir);
  static WeightSource open_file(const std::filesystem::path& file);
  // Synthesises every requested tensor instead of reading it (for benchmark models of real shapes):
  // normalisation weights 1 (or 0 where `zero_centered_norms`, for (1 + w) RMSNorm), biases 0,
  // everything else N(0, 0.02), from `seed`.
  static WeightSource random(uint64_t seed, bool zero_centered_norms);

  bool contains(const std::string& name) const;
  // Reads a tensor as float32 and checks its shape; errors name the file, the tensor, the expected
  // and the actual shape (and that the shape comes from config.json).
  at::Tensor load(const std::string& name, const std::vector<int64_t>& expected_shape) const;
  std::optional<at::Tensor> load_optional(const std::string& name,
                                          const std::vector<int64_t>& expected_shape) const;
  std::vector<std::string> names() const;
  std::string describe() const;  // file name(s) for messages

 private:
  struct Located {
    const SafetensorsFile* file;
    const TensorInfo* info;
  };
  std::optional<Located> locate(const std::string& name) const;

  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, size_t> shard_of_;  // from the index, when sharded
  std::vector<std::string> prefixes_;
  struct RandomSpec {
    uint64_t seed;
    bool zero_centered_norms;
  };
  std::optional<RandomSpec> random_;
};

// Writes float32 tensors (contiguous CPU) as a safetensors file, atomically.
void write_safetensors(const std::filesystem::path& path,
                       const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace memembed::model
