// The fixtures' tiny models with the vocabulary cut to its first kSmallVocab tokens, for the model
// fuzz targets. Architecture, layers, modules and files stay the fixtures' own; only the
// word-embedding table (30-50 thousand rows) and the WordPiece vocabulary shrink, so loading a
// model for every input costs little more than the file the input replaces.
#pragma once

#include "fuzz_target.h"
#include "memembed/json_io.h"
#include "safetensors.h"

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace memembed::fuzz {

// Keeps BERT's [PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103 and every decoder fixture's
// special tokens that the forward passes use.
constexpr int64_t kSmallVocab = 1024;

// shared/fixtures/<name> with the vocabulary cut, in this process's scratch directory (made once).
inline std::filesystem::path small_fixture(const std::string& name) {
  namespace fs = std::filesystem;
  const fs::path source = shared_dir() / "fixtures" / name;
  const fs::path placeholder = write_input("", "small/" + name + "/.keep");
  const fs::path target = placeholder.parent_path();
  fs::remove(placeholder);
  if (fs::exists(target / "model.safetensors")) return target;

  for (const auto& entry : fs::recursive_directory_iterator(source)) {
    const fs::path relative = fs::relative(entry.path(), source);
    if (entry.is_directory()) {
      fs::create_directories(target / relative);
    } else if (relative != "model.safetensors" && relative != "config.json" && relative != "tokenizer.json" &&
               relative != "vocab.txt" && relative != "expected.json") {
      fs::copy_file(entry.path(), target / relative, fs::copy_options::overwrite_existing);
    }
  }

  Json config = read_json_file(source / "config.json");
  const int64_t vocab = config.at("vocab_size").get<int64_t>();
  config["vocab_size"] = kSmallVocab;
  write_json_file(target / "config.json", config);

  // A WordPiece/WordLevel vocabulary is cut by id; a BPE one (whose merges would need cutting too)
  // is left out: the config target loads weights only.
  Json tokenizer = fs::exists(source / "tokenizer.json") ? read_json_file(source / "tokenizer.json") : Json();
  if (tokenizer.is_object() && tokenizer.at("model").at("vocab").is_object() &&
      !tokenizer.at("model").contains("merges")) {
    Json& entries = tokenizer.at("model").at("vocab");
    Json kept = Json::object();
    for (const auto& [token, id] : entries.items()) {
      if (id.get<int64_t>() < kSmallVocab) kept[token] = id;
    }
    entries = std::move(kept);
    write_json_file(target / "tokenizer.json", tokenizer);
  }

  const model::SafetensorsFile weights(source / "model.safetensors");
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& [tensor_name, info] : weights.tensors()) {
    at::Tensor tensor = weights.read_float32(info);
    if (!info.shape.empty() && info.shape[0] == vocab) tensor = tensor.narrow(0, 0, kSmallVocab).contiguous();
    tensors.emplace_back(tensor_name, tensor);
  }
  model::write_safetensors(target / "model.safetensors", tensors);
  return target;
}

}  // namespace memembed::fuzz
