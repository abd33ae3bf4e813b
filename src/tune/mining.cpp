// Hard-negative mining with the base model (tune.h, mine_hard_negatives).
#include "process_group.h"
#include "training_data.h"

#include "memembed/embed.h"
#include "memembed/provider.h"
#include "memembed/error.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <random>
#include <set>
#include <unordered_map>

namespace memembed::tune {

namespace {

constexpr int64_t kQueryBlock = 1024;

at::Tensor as_tensor(embed::Embeddings& embeddings) {
  return at::from_blob(embeddings.values.data(),
                       {static_cast<int64_t>(embeddings.rows), static_cast<int64_t>(embeddings.dim)}, at::kFloat);
}

// The `depth` best-scoring corpus rows of each query, scanning the corpus `block_rows` rows at a
// time so memory stays at queries x (depth + block_rows) scores, whatever the corpus size.
std::pair<at::Tensor, at::Tensor> top_candidates(const at::Tensor& queries, const at::Tensor& corpus, int64_t depth,
                                                 int64_t block_rows) {
  at::Tensor best_scores = at::empty({queries.size(0), 0}, at::kFloat);
  at::Tensor best_rows = at::empty({queries.size(0), 0}, at::kLong);
  for (int64_t begin = 0; begin < corpus.size(0); begin += block_rows) {
    const int64_t rows = std::min(block_rows, corpus.size(0) - begin);
    const at::Tensor scores = at::mm(queries, corpus.narrow(0, begin, rows).t());
    const at::Tensor ids = at::arange(begin, begin + rows, at::kLong).expand({queries.size(0), rows});
    const at::Tensor all_scores = at::cat({best_scores, scores}, 1);
    const at::Tensor all_rows = at::cat({best_rows, ids}, 1);
    const auto top = at::topk(all_scores, std::min(depth, all_scores.size(1)), 1, true, true);
    best_scores = std::get<0>(top);
    best_rows = all_rows.gather(1, std::get<1>(top));
  }
  return {best_scores.contiguous(), best_rows.contiguous()};
}

// Embeddings of `texts`: this rank's contiguous share, all-gathered (shares padded to equal rows,
// as Gloo gathers equal shapes) when there are several ranks.
at::Tensor embed_shared(const provider::EmbeddingProvider& provider, const std::vector<std::string>& texts,
                        ProcessGroup* group) {
  if (group == nullptr) {
    embed::Embeddings embeddings = provider.embed(texts);
    return as_tensor(embeddings).clone();
  }
  const size_t ranks = static_cast<size_t>(group->world_size());
  const size_t share = (texts.size() + ranks - 1) / ranks;
  const size_t begin = std::min(texts.size(), share * static_cast<size_t>(group->rank()));
  const size_t end = std::min(texts.size(), begin + share);
  at::Tensor local = at::zeros({static_cast<int64_t>(share), static_cast<int64_t>(provider.dimension())}, at::kFloat);
  if (end > begin) {
    embed::Embeddings embeddings = provider.embed(std::vector<std::string>(
        texts.begin() + static_cast<std::ptrdiff_t>(begin), texts.begin() + static_cast<std::ptrdiff_t>(end)));
    local.narrow(0, 0, static_cast<int64_t>(end - begin)).copy_(as_tensor(embeddings));
  }
  return group->all_gather(local).narrow(0, 0, static_cast<int64_t>(texts.size()));
}

}  // namespace

Json MiningReport::to_json() const {
  return {{"queries", queries},
          {"slots", slots},
          {"hard", hard},
          {"random", random},
          {"empty", empty},
          {"unfilled_fraction", unfilled_fraction()},
          {"dropped_by_filter", dropped_by_filter},
          {"dropped_related", dropped_related}};
}

MiningReport mine_hard_negatives(const MineOptions& options) {
  if (options.negatives == 0) throw invalid_input("the number of negatives must be at least 1");
  if (options.threshold <= 0 || options.threshold > 1) {
    throw invalid_input("the filter threshold must be in (0, 1], got {}", options.threshold);
  }
  if (options.block_rows == 0) throw invalid_input("the mining block size must be at least 1");
  const std::vector<Chunk> chunks = read_chunks(options.data_dir / "chunks.jsonl");
  const std::vector<TrainingPair> pairs = read_pairs(options.data_dir / "train.jsonl");
  std::unordered_map<std::string, int64_t> row_of;
  for (size_t i = 0; i < chunks.size(); ++i) row_of.emplace(chunks[i].id, static_cast<int64_t>(i));
  auto row = [&](const std::string& id, const TrainingPair& pair) {
    const auto it = row_of.find(id);
    if (it == row_of.end()) {
      throw invalid_input("{}: query {} names chunk \"{}\", which chunks.jsonl does not have",
                          (options.data_dir / "train.jsonl").string(), pair.query_id, id);
    }
    return it->second;
  };
  const size_t wanted = options.negatives;
  if (chunks.size() < wanted + 2) {
    throw invalid_input("{} chunks are too few to mine {} negatives per query", chunks.size(), wanted);
  }

  const std::unique_ptr<ProcessGroup> group = join_process_group(options.parallel);
  // The base model may run here or behind an endpoint (openai:URL#MODEL): mining only needs vectors.
  provider::ProviderOptions provider_options;
  provider_options.local.show_progress = options.show_progress;
  provider_options.remote.show_progress = options.show_progress;
  const auto base_model = provider::open_provider(options.base_model.string(), provider_options);
  std::vector<std::string> texts;
  texts.reserve(chunks.size());
  for (const Chunk& chunk : chunks) texts.push_back(chunk.text);
  const at::Tensor corpus = embed_shared(*base_model, texts, group.get());
  texts.clear();
  for (const TrainingPair& pair : pairs) texts.push_back(pair.query);
  const at::Tensor queries = embed_shared(*base_model, texts, group.get());
  c10::InferenceMode guard;  // not earlier: Gloo's threads write the gathered tensors outside it
  const int64_t depth = static_cast<int64_t>(options.candidates > 0 ? options.candidates : std::max<size_t>(64, 16 * wanted));

  MiningReport report;
  std::vector<MinedExample> mined;
  mined.reserve(pairs.size());
  for (int64_t block = 0; block < queries.size(0); block += kQueryBlock) {
    const int64_t rows = std::min(kQueryBlock, queries.size(0) - block);
    const auto [scores, candidates] =
        top_candidates(queries.narrow(0, block, rows), corpus, depth, static_cast<int64_t>(options.block_rows));
    for (int64_t q = 0; q < rows; ++q) {
      const TrainingPair& pair = pairs[static_cast<size_t>(block + q)];
      const at::Tensor query = queries[block + q];
      std::set<int64_t> excluded = {row(pair.positive, pair)};
      for (const std::string& id : pair.related) excluded.insert(row(id, pair));
      const float ceiling = static_cast<float>(options.threshold) * at::dot(query, corpus[row(pair.positive, pair)]).item<float>();

      MinedExample example{pair.query_id, pair.query, pair.positive, {}, 0};
      const float* candidate_scores = scores[q].data_ptr<float>();
      const int64_t* candidate_rows = candidates[q].data_ptr<int64_t>();
      for (int64_t c = 0; c < scores.size(1) && example.negatives.size() < wanted; ++c) {
        if (excluded.count(candidate_rows[c])) {
          ++report.dropped_related;
        } else if (candidate_scores[c] > ceiling) {
          ++report.dropped_by_filter;
        } else {
          example.negatives.push_back(chunks[static_cast<size_t>(candidate_rows[c])].id);
          excluded.insert(candidate_rows[c]);
        }
      }
      example.hard = example.negatives.size();
      // Slots the filter left empty: random chunks that pass the filter too; a slot no such chunk
      // is found for within the attempts stays empty.
      std::mt19937_64 rng(options.seed + static_cast<uint64_t>(block + q));
      std::uniform_int_distribution<int64_t> pick(0, static_cast<int64_t>(chunks.size()) - 1);
      for (size_t attempt = 0; example.negatives.size() < wanted && attempt < 64 * wanted; ++attempt) {
        const int64_t candidate = pick(rng);
        if (excluded.count(candidate) || at::dot(query, corpus[candidate]).item<float>() > ceiling) continue;
        example.negatives.push_back(chunks[static_cast<size_t>(candidate)].id);
        excluded.insert(candidate);
      }
      report.hard += example.hard;
      report.random += example.negatives.size() - example.hard;
      report.empty += wanted - example.negatives.size();
      mined.push_back(std::move(example));
    }
  }
  report.queries = mined.size();
  report.slots = mined.size() * wanted;
  if (options.parallel.rank == 0) {
    write_mined(options.data_dir / "negatives.jsonl", mined);
    write_json_file(options.data_dir / "mining.json", report.to_json());
  }
  return report;
}

}  // namespace memembed::tune
