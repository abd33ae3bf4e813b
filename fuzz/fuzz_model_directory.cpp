// The sentence-transformers files of a model directory: the first input byte picks the file
// (modules.json, 1_Pooling/config.json, sentence_bert_config.json,
// config_sentence_transformers.json, model.safetensors.index.json), the rest is its content; the
// other files are bert-tiny's, vocabulary cut to kSmallVocab (its weights also as the single shard
// model-00001-of-00001.safetensors).
#include "fuzz_target.h"
#include "memembed/model.h"
#include "small_model.h"

#include <c10/core/InferenceMode.h>

#include <array>

namespace fs = std::filesystem;

namespace {

constexpr std::array<const char*, 5> kFiles = {"modules.json", "1_Pooling/config.json", "sentence_bert_config.json",
                                               "config_sentence_transformers.json",
                                               "model.safetensors.index.json"};

const fs::path& fixture() {
  static const fs::path source = memembed::fuzz::small_fixture("bert-tiny");
  return source;
}

// A scratch model directory of links to the fixture's files, made once per process.
const fs::path& model_directory() {
  static const fs::path dir = [] {
    const fs::path target = memembed::fuzz::write_input("", "model/.keep").parent_path();
    for (const auto& entry : fs::recursive_directory_iterator(fixture())) {
      const fs::path relative = fs::relative(entry.path(), fixture());
      if (entry.is_directory()) fs::create_directories(target / relative);
      else fs::create_symlink(entry.path(), target / relative);
    }
    // The shard a fuzzed model.safetensors.index.json may name.
    fs::create_symlink(fixture() / "model.safetensors", target / "model-00001-of-00001.safetensors");
    return target;
  }();
  return dir;
}

// Puts back the fixture's version of every file an input may have replaced.
void restore(const fs::path& dir) {
  for (const char* file : kFiles) {
    fs::remove(dir / file);
    if (fs::exists(fixture() / file)) fs::create_symlink(fixture() / file, dir / file);
  }
  if (!fs::exists(dir / "model.safetensors")) fs::create_symlink(fixture() / "model.safetensors", dir / "model.safetensors");
}

}  // namespace

MEMEMBED_FUZZ_TARGET(model_directory) {
  using namespace memembed;
  if (input.empty()) return;
  const fs::path& dir = model_directory();
  restore(dir);
  const std::string file = kFiles[static_cast<unsigned char>(input[0]) % kFiles.size()];
  fs::remove(dir / file);
  fuzz::write_input(input.substr(1), "model/" + file);
  // A weight index is only read when there is no single weights file.
  if (file == "model.safetensors.index.json") fs::remove(dir / "model.safetensors");
  fuzz::refusing_bad_input([&] {
    const auto model = model::SentenceTransformer::load(dir);
    c10::InferenceMode guard;
    model::Features features;
    features.input_ids = at::tensor({101, 1000, 102}, at::kLong).unsqueeze(0);
    features.attention_mask = at::ones_like(features.input_ids);
    features.prompt_length = 1;
    model->forward(features);
  });
}
