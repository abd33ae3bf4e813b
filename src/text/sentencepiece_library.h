// Access to libsentencepiece through the isolated shim (see sentencepiece_shim.h for why): finds
// and loads libmemembed_sentencepiece.so once per process, and wraps one loaded .model file.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct memembed_spm;

namespace memembed::text {

class SpmProcessor {
 public:
  // Throws NotFound (no file, or the shim library is missing), InvalidInput (not a model).
  static std::unique_ptr<SpmProcessor> load(const std::filesystem::path& file);
  ~SpmProcessor();
  SpmProcessor(const SpmProcessor&) = delete;
  SpmProcessor& operator=(const SpmProcessor&) = delete;

  int piece_size() const;
  int piece_to_id(std::string_view piece) const;  // the unknown id for pieces not in the model
  std::string id_to_piece(int id) const;
  bool is_control(int id) const;
  bool is_unknown(int id) const;
  int unk_id() const;
  int bos_id() const;  // -1 when the model has none
  int eos_id() const;

  void encode(std::string_view text, std::vector<int>& ids) const;  // appends
  std::string decode(const std::vector<int>& ids) const;

 private:
  explicit SpmProcessor(memembed_spm* model) : model_(model) {}
  memembed_spm* model_;
};

// Where the shim is looked for, in order: $MEMEMBED_SENTENCEPIECE_SHIM, next to the running
// executable, then where this build put it.
std::vector<std::filesystem::path> sentencepiece_shim_candidates();

}  // namespace memembed::text
