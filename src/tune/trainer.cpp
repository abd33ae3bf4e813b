// InfoNCE training with GradCache, AdamW, warmup + cosine decay, checkpoints and resume
// (tune.h, train_model).
//
// One optimiser step over a global batch of B queries, each with its positive and up to n hard
// negatives (GradCache, Gao et al. 2021):
//   1. embed every query and document of the batch without autograd, mini-batch by mini-batch;
//   2. (several ranks) all-gather those embeddings, so every rank holds the global batch;
//   3. compute the loss on the embeddings alone and its gradient with respect to them;
//   4. embed this rank's texts again, mini-batch by mini-batch, with autograd, and back-propagate
//      the stored embedding gradients into the weights;
//   5. (several ranks) all-reduce the weight gradients (sum), clip, AdamW step.
// Memory holds one mini-batch's activations, whatever B is; the result is the gradient of the
// full-batch loss.
#include "loss_curve.h"
#include "process_group.h"
#include "training_data.h"

#include "memembed/embed.h"
#include "memembed/error.h"
#include "memembed/model.h"
#include "memembed/progress.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/types.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>
#include <torch/serialize.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <numeric>
#include <random>
#include <unordered_map>

namespace memembed::tune {

namespace {

// The trained model's texts as token ids and each example's rows into them.
struct TrainingSet {
  std::vector<std::vector<text::TokenId>> chunk_tokens;
  std::vector<std::vector<text::TokenId>> query_tokens;
  std::vector<std::vector<int64_t>> documents;  // per example: positive row, then negative rows
};

TrainingSet prepare(const TrainOptions& options, const embed::Encoder& encoder, size_t negatives) {
  const std::vector<Chunk> chunks = read_chunks(options.data_dir / "chunks.jsonl");
  const std::vector<MinedExample> examples = read_mined(options.data_dir / "negatives.jsonl");
  if (examples.empty()) throw invalid_input("{}: no training examples", (options.data_dir / "negatives.jsonl").string());
  std::unordered_map<std::string, int64_t> row_of;
  std::vector<std::string> texts;
  for (size_t i = 0; i < chunks.size(); ++i) {
    row_of.emplace(chunks[i].id, static_cast<int64_t>(i));
    texts.push_back(chunks[i].text);
  }
  TrainingSet set;
  for (auto& encoding : encoder.tokenize(texts)) set.chunk_tokens.push_back(std::move(encoding.ids));
  texts.clear();
  for (const MinedExample& example : examples) {
    texts.push_back(example.query);
    std::vector<int64_t> rows;
    for (size_t i = 0; i <= std::min(negatives, example.negatives.size()); ++i) {
      const std::string& id = i == 0 ? example.positive : example.negatives[i - 1];
      const auto it = row_of.find(id);
      if (it == row_of.end()) {
        throw invalid_input("{}: query {} names chunk \"{}\", which chunks.jsonl does not have",
                            (options.data_dir / "negatives.jsonl").string(), example.query_id, id);
      }
      rows.push_back(it->second);
    }
    set.documents.push_back(std::move(rows));
  }
  for (auto& encoding : encoder.tokenize(texts)) set.query_tokens.push_back(std::move(encoding.ids));
  return set;
}

double learning_rate_at(size_t step, size_t total, size_t warmup, double peak) {
  if (step < warmup) return peak * static_cast<double>(step + 1) / static_cast<double>(warmup);
  const double progress = total > warmup ? static_cast<double>(step - warmup) / static_cast<double>(total - warmup) : 1.0;
  return peak * 0.5 * (1.0 + std::cos(M_PI * progress));
}

// The epoch's example order: a permutation drawn from (seed, epoch) alone, so a resumed run sees
// the same order without storing it.
std::vector<size_t> epoch_order(size_t count, uint64_t seed, size_t epoch) {
  std::vector<size_t> order(count);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed * 1000003ull + epoch);
  std::shuffle(order.begin(), order.end(), rng);
  return order;
}

// Everything the options fix about the run; a checkpoint made under other values is refused.
Json run_identity(const TrainOptions& options, const Recipe& recipe, size_t total_steps) {
  return {{"base_model", fs::absolute(options.base_model).lexically_normal().string()},
          {"learning_rate", recipe.learning_rate},
          {"temperature", recipe.temperature},
          {"epochs", recipe.epochs},
          {"weight_decay", options.weight_decay},
          {"warmup_fraction", options.warmup_fraction},
          {"grad_clip", options.grad_clip},
          {"negatives", options.negatives},
          {"in_batch_negatives", options.in_batch_negatives},
          {"batch_size", options.batch_size},
          {"max_seq_length", options.max_seq_length},
          {"total_steps", total_steps},
          {"seed", options.seed},
          {"world_size", options.parallel.world_size}};
}

class Trainer {
 public:
  Trainer(const TrainOptions& options, std::shared_ptr<model::SentenceTransformer> model, TrainingSet set,
          double temperature, ProcessGroup* group)
      : options_(options), model_(std::move(model)), set_(std::move(set)), temperature_(temperature), group_(group) {}

  // One optimiser step's loss and gradients (left in the parameters' .grad) for the examples of
  // the global batch; this rank handles its share.
  double accumulate_gradients(const std::vector<size_t>& global_batch) {
    const size_t world = static_cast<size_t>(options_.parallel.world_size);
    const size_t per_rank = (global_batch.size() + world - 1) / world;
    const size_t slots = 1 + options_.negatives;
    const size_t rank = static_cast<size_t>(options_.parallel.rank);
    const int64_t dim = static_cast<int64_t>(model_->embedding_dimension());

    // This rank's queries and document slots; absent ones (a short last batch, a negative the
    // filter left empty) stay zero vectors and are masked out of the loss.
    std::vector<const std::vector<text::TokenId>*> queries, documents;
    std::vector<int64_t> query_slots, document_slots;
    // Float masks: Gloo gathers no booleans.
    at::Tensor local_query_valid = at::zeros({static_cast<int64_t>(per_rank)});
    at::Tensor local_document_valid = at::zeros({static_cast<int64_t>(per_rank * slots)});
    for (size_t i = 0; i < per_rank; ++i) {
      const size_t index = rank * per_rank + i;
      if (index >= global_batch.size()) break;
      const size_t example = global_batch[index];
      queries.push_back(&set_.query_tokens[example]);
      query_slots.push_back(static_cast<int64_t>(i));
      local_query_valid[static_cast<int64_t>(i)] = 1;
      const auto& rows = set_.documents[example];
      for (size_t d = 0; d < rows.size(); ++d) {
        documents.push_back(&set_.chunk_tokens[static_cast<size_t>(rows[d])]);
        document_slots.push_back(static_cast<int64_t>(i * slots + d));
        local_document_valid[static_cast<int64_t>(i * slots + d)] = 1;
      }
    }
    at::Tensor local_queries = at::zeros({static_cast<int64_t>(per_rank), dim});
    at::Tensor local_documents = at::zeros({static_cast<int64_t>(per_rank * slots), dim});
    {
      at::NoGradGuard no_grad;
      embed_into(queries, query_slots, local_queries);
      embed_into(documents, document_slots, local_documents);
    }
    const at::Tensor all_queries = gather(local_queries).requires_grad_(true);
    const at::Tensor all_documents = gather(local_documents).requires_grad_(true);
    const at::Tensor query_valid = gather(local_query_valid).gt(0);
    const at::Tensor document_valid = gather(local_document_valid).gt(0);

    const at::Tensor loss = info_nce(all_queries, all_documents, query_valid, document_valid, slots);
    loss.backward();
    const at::Tensor query_grad = all_queries.grad().narrow(0, static_cast<int64_t>(rank * per_rank), static_cast<int64_t>(per_rank));
    const at::Tensor document_grad =
        all_documents.grad().narrow(0, static_cast<int64_t>(rank * per_rank * slots), static_cast<int64_t>(per_rank * slots));
    backward_into(queries, query_slots, query_grad);
    backward_into(documents, document_slots, document_grad);
    if (group_ != nullptr) {
      for (auto& parameter : model_->parameters()) {
        if (parameter.grad().defined()) group_->all_reduce_sum(parameter.mutable_grad());
      }
    }
    return loss.item<double>();
  }

 private:
  // Embeddings of `rows` without autograd, written at `slots` of `out`, mini-batch by mini-batch.
  void embed_into(const std::vector<const std::vector<text::TokenId>*>& rows, const std::vector<int64_t>& slots,
                  at::Tensor& out) const {
    for (size_t begin = 0; begin < rows.size(); begin += options_.mini_batch) {
      const size_t end = std::min(rows.size(), begin + options_.mini_batch);
      out.index_copy_(0, slot_tensor(slots, begin, end), forward(rows, begin, end));
    }
  }

  // The same embeddings again, with autograd, each mini-batch back-propagating its stored gradient.
  void backward_into(const std::vector<const std::vector<text::TokenId>*>& rows, const std::vector<int64_t>& slots,
                     const at::Tensor& gradient) const {
    for (size_t begin = 0; begin < rows.size(); begin += options_.mini_batch) {
      const size_t end = std::min(rows.size(), begin + options_.mini_batch);
      forward(rows, begin, end).backward(gradient.index_select(0, slot_tensor(slots, begin, end)));
    }
  }

  at::Tensor forward(const std::vector<const std::vector<text::TokenId>*>& rows, size_t begin, size_t end) const {
    std::vector<const std::vector<text::TokenId>*> batch(rows.begin() + static_cast<std::ptrdiff_t>(begin),
                                                         rows.begin() + static_cast<std::ptrdiff_t>(end));
    model::Features features = model::pad_batch(batch, model_->tokenizer());
    return model_->forward(features);
  }

  static at::Tensor slot_tensor(const std::vector<int64_t>& slots, size_t begin, size_t end) {
    return at::tensor(std::vector<int64_t>(slots.begin() + static_cast<std::ptrdiff_t>(begin),
                                           slots.begin() + static_cast<std::ptrdiff_t>(end)),
                      at::kLong);
  }

  at::Tensor gather(const at::Tensor& local) const {
    return group_ == nullptr ? local : group_->all_gather(local);
  }

  // Cross-entropy of each query over its documents (and, with in-batch negatives, every other
  // query's documents), the positive being its first slot; mean over the real queries.
  at::Tensor info_nce(const at::Tensor& queries, const at::Tensor& documents, const at::Tensor& query_valid,
                      const at::Tensor& document_valid, size_t slots) const {
    const int64_t count = queries.size(0);
    at::Tensor scores = at::mm(queries, documents.t()) / temperature_;
    at::Tensor allowed = document_valid.unsqueeze(0).expand({count, documents.size(0)});
    if (!options_.in_batch_negatives) {
      const at::Tensor owner = at::arange(documents.size(0), at::kLong).div(static_cast<int64_t>(slots), "floor");
      allowed = allowed.logical_and(owner.unsqueeze(0).eq(at::arange(count, at::kLong).unsqueeze(1)));
    }
    scores = scores.masked_fill(allowed.logical_not(), -1e9);
    const at::Tensor targets = at::arange(count, at::kLong) * static_cast<int64_t>(slots);
    const at::Tensor per_query = at::cross_entropy_loss(scores, targets, {}, at::Reduction::None);
    const at::Tensor weights = query_valid.to(at::kFloat);
    return (per_query * weights).sum() / weights.sum().clamp_min(1.0);
  }

  const TrainOptions& options_;
  std::shared_ptr<model::SentenceTransformer> model_;
  TrainingSet set_;
  double temperature_;
  ProcessGroup* group_;
};

struct Checkpoint {
  fs::path dir;
  size_t step = 0;
};

// checkpoint/ is replaced atomically: written as checkpoint.tmp/, then renamed over. A crash
// between the two renames leaves checkpoint.old/, which is used then.
std::optional<Checkpoint> find_checkpoint(const fs::path& train_dir) {
  for (const char* name : {"checkpoint", "checkpoint.old"}) {
    const fs::path dir = train_dir / name;
    if (fs::exists(dir / "state.json")) return Checkpoint{dir, static_cast<size_t>(read_json_file(dir / "state.json").at("step").get<int64_t>())};
  }
  return std::nullopt;
}

void save_checkpoint(const fs::path& train_dir, const model::SentenceTransformer& model,
                     torch::optim::AdamW& optimizer, const Json& state) {
  const fs::path temporary = train_dir / "checkpoint.tmp";
  const fs::path current = train_dir / "checkpoint";
  const fs::path old = train_dir / "checkpoint.old";
  fs::remove_all(temporary);
  fs::create_directories(temporary);
  model.save(temporary / "model");
  torch::save(optimizer, (temporary / "optimizer.pt").string());
  write_json_file(temporary / "state.json", state);
  fs::remove_all(old);
  if (fs::exists(current)) fs::rename(current, old);
  fs::rename(temporary, current);
  fs::remove_all(old);
}

// Keeps the log lines of steps up to `step` (a resumed run rewrites what came after).
void truncate_log(const fs::path& log, size_t step) {
  if (!fs::exists(log)) return;
  std::vector<Json> kept;
  for_each_jsonl(log, [&](const Json& record, size_t) {
    if (record.value("step", size_t{0}) <= step) kept.push_back(record);
  });
  write_jsonl(log, kept);
}

}  // namespace

Recipe default_recipe(bool static_model) {
  if (static_model) return {1e-2, 0.05, 10};
  return {1e-5, 0.02, 3};
}

Json TrainResult::to_json() const {
  return {{"steps", steps},           {"total_steps", total_steps}, {"resumed_from", resumed_from},
          {"final_loss", final_loss}, {"seconds", seconds},         {"interrupted", interrupted}};
}

TrainResult train_model(const TrainOptions& options) {
  if (options.batch_size == 0 || options.mini_batch == 0) throw invalid_input("batch sizes must be at least 1");
  if (options.checkpoint_every == 0) throw invalid_input("--checkpoint-every must be at least 1");
  const std::unique_ptr<ProcessGroup> group = join_process_group(options.parallel);
  const auto started = std::chrono::steady_clock::now();
  fs::create_directories(options.train_dir);
  const std::optional<Checkpoint> checkpoint = find_checkpoint(options.train_dir);

  model::LoadOptions load_options;
  load_options.max_seq_length = options.max_seq_length;
  std::shared_ptr<model::SentenceTransformer> model =
      model::SentenceTransformer::load(checkpoint ? checkpoint->dir / "model" : options.base_model, load_options);
  const bool static_model = model->architecture() == "StaticEmbedding";
  Recipe recipe = default_recipe(static_model);
  recipe.learning_rate = options.learning_rate.value_or(recipe.learning_rate);
  recipe.temperature = options.temperature.value_or(recipe.temperature);
  recipe.epochs = options.epochs.value_or(recipe.epochs);
  if (recipe.learning_rate <= 0 || recipe.temperature <= 0 || recipe.epochs <= 0) {
    throw invalid_input("learning rate, temperature and epochs must be positive");
  }

  embed::EncoderOptions encoder_options;
  const embed::Encoder encoder(model, encoder_options);
  TrainingSet set = prepare(options, encoder, options.negatives);
  const size_t examples = set.documents.size();
  const size_t steps_per_epoch = (examples + options.batch_size - 1) / options.batch_size;
  const size_t total_steps = options.max_steps > 0 ? options.max_steps : steps_per_epoch * static_cast<size_t>(recipe.epochs);
  const size_t warmup = static_cast<size_t>(options.warmup_fraction * static_cast<double>(total_steps) + 0.5);
  const Json identity = run_identity(options, recipe, total_steps);

  std::vector<at::Tensor> parameters = model->parameters();
  for (auto& parameter : parameters) parameter.requires_grad_(true);
  torch::optim::AdamW optimizer(parameters,
                                torch::optim::AdamWOptions(recipe.learning_rate).weight_decay(options.weight_decay));
  TrainResult result;
  result.total_steps = total_steps;
  if (checkpoint) {
    const Json state = read_json_file(checkpoint->dir / "state.json");
    if (state.at("identity") != identity) {
      throw invalid_input("{}: the checkpoint was made with other settings ({}); use a new training directory or the "
                          "same settings (now: {})",
                          checkpoint->dir.string(), state.at("identity").dump(), identity.dump());
    }
    torch::load(optimizer, (checkpoint->dir / "optimizer.pt").string());
    result.resumed_from = checkpoint->step;
  }
  const fs::path log_path = options.train_dir / "log.jsonl";
  truncate_log(log_path, result.resumed_from);

  const bool writer = options.parallel.rank == 0;
  Trainer trainer(options, model, std::move(set), recipe.temperature, group.get());

  std::ofstream log(log_path, std::ios::app);
  if (!log) throw io_error("{}: cannot open for appending", log_path.string());
  std::unique_ptr<Progress> progress;
  if (options.show_progress && writer) {
    progress = std::make_unique<Progress>("training", total_steps - std::min(total_steps, result.resumed_from), "steps");
  }
  size_t order_epoch = SIZE_MAX;
  std::vector<size_t> order;
  size_t step = result.resumed_from;
  auto checkpoint_state = [&](size_t done, double loss) {
    return Json{{"step", done}, {"loss", loss}, {"identity", identity}};
  };
  double loss = 0;
  while (step < total_steps) {
    const auto step_started = std::chrono::steady_clock::now();
    const std::clock_t step_cpu_started = std::clock();
    const size_t epoch = step / steps_per_epoch;
    if (epoch != order_epoch) {
      order = epoch_order(examples, options.seed, epoch);
      order_epoch = epoch;
    }
    const size_t begin = (step % steps_per_epoch) * options.batch_size;
    const std::vector<size_t> batch(order.begin() + static_cast<std::ptrdiff_t>(begin),
                                    order.begin() + static_cast<std::ptrdiff_t>(std::min(examples, begin + options.batch_size)));
    const double rate = learning_rate_at(step, total_steps, warmup, recipe.learning_rate);
    for (auto& group_options : optimizer.param_groups()) {
      static_cast<torch::optim::AdamWOptions&>(group_options.options()).lr(rate);
    }
    optimizer.zero_grad();
    loss = trainer.accumulate_gradients(batch);
    const double grad_norm = torch::nn::utils::clip_grad_norm_(parameters, options.grad_clip);
    optimizer.step();
    ++step;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - step_started).count();
    // CPU time of the whole process (all threads): with one thread, a step's cost on a busy machine.
    const double cpu_seconds = static_cast<double>(std::clock() - step_cpu_started) / CLOCKS_PER_SEC;
    if (writer) {
      log << Json{{"step", step},        {"total_steps", total_steps}, {"epoch", epoch},
                  {"learning_rate", rate}, {"loss", loss},             {"grad_norm", grad_norm},
                  {"seconds", seconds},  {"cpu_seconds", cpu_seconds},  {"examples", batch.size()}}
                 .dump()
          << '\n';
      log.flush();
    }
    if (progress) {
      progress->set_detail(fmt::format("epoch {}, loss {:.4f}, lr {:.2e}", epoch + 1, loss, rate));
      progress->advance(1);
    }
    const bool stopping = options.stop != nullptr && options.stop->load();
    if (writer && (step % options.checkpoint_every == 0 || step == total_steps || stopping)) {
      save_checkpoint(options.train_dir, *model, optimizer, checkpoint_state(step, loss));
    }
    if (stopping && step < total_steps) {
      result.interrupted = true;
      break;
    }
  }
  if (progress) progress->finish();
  result.steps = step;
  result.final_loss = loss;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (writer) {
    if (!result.interrupted) model->save(options.export_dir);
    write_loss_curve(log_path, options.train_dir / "loss.svg");
    write_json_file(options.train_dir / "train.json", Json{{"recipe", identity}, {"result", result.to_json()}});
  }
  return result;
}

}  // namespace memembed::tune
