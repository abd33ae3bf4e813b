// Lower precisions must agree with float32 on every fixture (cosine >= 0.999 for int8, >= 0.9999
// for bf16 or its fallback), and must never run silently on a CPU without the features: the plan
// says what runs, and a capped instruction set (DNNL_MAX_CPU_ISA, the second ctest entry) takes the
// f32 fallback with a notice. The oneDNN kernels are also checked on their own against at::linear.
#include "fixture_support.h"
#include "linear.h"
#include "memembed/json_io.h"
#include "memembed/model.h"
#include "onednn_linear.h"
#include "sentencepiece_support.h"

#include <c10/core/InferenceMode.h>

#include <cstdlib>
#include <functional>

using namespace memembed;
using memembed::testing::fixture_dir;

namespace {

bool fallback_expected() {
  const char* value = std::getenv("MEMEMBED_EXPECT_PRECISION_FALLBACK");
  return value != nullptr && std::string(value) == "1";
}

TEST(PrecisionChoice, FollowsTheCpuFeatures) {
  const model::onednn::CpuSupport cpu = model::onednn::cpu_support();
  const model::PrecisionPlan int8 = model::plan_precision(Precision::Int8);
  const model::PrecisionPlan bf16 = model::plan_precision(Precision::Bf16);
  EXPECT_EQ(int8.effective, cpu.avx2 ? Precision::Int8 : Precision::F32) << cpu.isa;
  EXPECT_EQ(bf16.effective, cpu.bf16 ? Precision::Bf16 : Precision::F32) << cpu.isa;
  for (const model::PrecisionPlan& plan : {int8, bf16}) {
    // A fallback always comes with the line that tells the user; a native path never does.
    EXPECT_EQ(plan.notice.empty(), plan.effective == plan.requested) << plan.notice;
    EXPECT_FALSE(plan.kernel.empty());
  }
  const model::PrecisionPlan f32 = model::plan_precision(Precision::F32);
  EXPECT_EQ(f32.effective, Precision::F32);
  EXPECT_TRUE(f32.notice.empty());
  if (fallback_expected()) {
    // Run with DNNL_MAX_CPU_ISA=SSE41: both low precisions must take the fallback branch.
    EXPECT_EQ(int8.effective, Precision::F32);
    EXPECT_EQ(bf16.effective, Precision::F32);
    EXPECT_NE(int8.notice.find("int8 needs AVX2"), std::string::npos) << int8.notice;
  }
}

TEST(PrecisionChoice, ParsesTheThreeNames) {
  EXPECT_EQ(parse_precision("int8"), Precision::Int8);
  EXPECT_EQ(parse_precision("bf16"), Precision::Bf16);
  EXPECT_EQ(parse_precision("f32"), Precision::F32);
  try {
    parse_precision("fp8", "embedder.json: precision");
    FAIL() << "fp8 accepted";
  } catch (const std::runtime_error& e) {  // memembed::Error, InvalidInput
    EXPECT_NE(std::string(e.what()).find("embedder.json: precision: unknown precision \"fp8\""), std::string::npos)
        << e.what();
  }
}

// The packed kernels against at::linear on random data, with bias, residual and strided rows.
void check_kernel(Precision precision, double tolerance) {
  const model::PrecisionPlan plan = model::plan_precision(precision);
  if (plan.effective != precision) GTEST_SKIP() << plan.notice;
  at::manual_seed(11);
  const int64_t rows = 37, in = 96, out = 80;
  const at::Tensor weight = at::randn({out, in}) * 0.1;
  const at::Tensor bias = at::randn({out});
  const at::Tensor wide = at::randn({rows, in + 16});
  const at::Tensor x = wide.narrow(1, 0, in);  // rows `in + 16` floats apart
  const at::Tensor residual = at::randn({rows, out});
  const model::Linear linear(weight, bias, precision);
  c10::InferenceMode guard;
  const at::Tensor expected = at::linear(x, weight, bias);
  const at::Tensor plain = linear(x);
  const at::Tensor onto = linear.onto(x, residual);
  const double scale = expected.abs().max().item<double>();
  EXPECT_LT((plain - expected).abs().max().item<double>(), tolerance * scale);
  EXPECT_LT((onto - (expected + residual)).abs().max().item<double>(), tolerance * scale);
  EXPECT_EQ(linear(x.narrow(0, 0, 0)).size(0), 0);  // an empty batch is an empty result
}

TEST(PackedLinear, Int8MatchesFloat32WithinQuantizationError) { check_kernel(Precision::Int8, 0.02); }
TEST(PackedLinear, Bf16MatchesFloat32WithinRoundingError) { check_kernel(Precision::Bf16, 0.01); }

double cosine(const float* a, const float* b, int64_t n) {
  double dot = 0, aa = 0, bb = 0;
  for (int64_t i = 0; i < n; ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    aa += static_cast<double>(a[i]) * a[i];
    bb += static_cast<double>(b[i]) * b[i];
  }
  return dot / std::sqrt(aa * bb);
}

class FixtureAgreement : public ::testing::TestWithParam<std::string> {
 protected:
  // Every case alone, then all cases in one right-padded batch (padding rows get their own
  // activation scales and must not disturb the real ones).
  std::vector<at::Tensor> embed_all(const model::SentenceTransformer& model, const Json& cases) {
    c10::InferenceMode guard;
    std::vector<at::Tensor> result;
    size_t longest = 0;
    for (const auto& item : cases) longest = std::max(longest, item["token_ids"].size());
    at::Tensor batch_ids = at::zeros({static_cast<int64_t>(cases.size()), static_cast<int64_t>(longest)}, at::kLong);
    at::Tensor batch_mask = at::zeros_like(batch_ids);
    int64_t row = 0;
    for (const auto& item : cases) {
      const auto ids = item["token_ids"].get<std::vector<int64_t>>();
      const auto n = static_cast<int64_t>(ids.size());
      model::Features single;
      single.input_ids = at::tensor(ids, at::kLong).view({1, n});
      single.attention_mask = at::ones({1, n}, at::kLong);
      result.push_back(model.forward(single).contiguous());
      batch_ids[row].narrow(0, 0, n).copy_(single.input_ids[0]);
      batch_mask[row].narrow(0, 0, n).fill_(1);
      ++row;
    }
    model::Features batch;
    batch.input_ids = batch_ids;
    batch.attention_mask = batch_mask;
    result.push_back(model.forward(batch).contiguous());
    return result;
  }

  void check(Precision precision, double minimum_cosine) {
    const std::filesystem::path dir = fixture_dir(GetParam());
    MEMEMBED_REQUIRE_SHARED(dir);
    MEMEMBED_REQUIRE_TOKENIZER_LOADS(dir);
    model::set_compute_threads(2);
    // The first 16 cases (short and long texts, prompts) keep the suite fast.
    const Json all_cases = read_json_file(dir / "expected.json")["cases"];
    const Json cases(all_cases.begin(), all_cases.begin() + std::min<std::ptrdiff_t>(16, all_cases.size()));
    const auto reference_model = model::SentenceTransformer::load(dir);
    const auto low_model = model::SentenceTransformer::load(dir, {0, precision});
    const model::PrecisionPlan& plan = low_model->precision();
    EXPECT_EQ(plan.requested, precision);
    const std::vector<at::Tensor> reference = embed_all(*reference_model, cases);
    const std::vector<at::Tensor> low = embed_all(*low_model, cases);
    double worst = 1.0;
    for (size_t i = 0; i < reference.size(); ++i) {
      for (int64_t r = 0; r < reference[i].size(0); ++r) {
        const double c = cosine(reference[i][r].data_ptr<float>(), low[i][r].data_ptr<float>(), reference[i].size(1));
        worst = std::min(worst, c);
        if (plan.effective == Precision::F32) {
          // The fallback is float32 itself: identical vectors.
          EXPECT_TRUE(at::equal(reference[i][r], low[i][r])) << "case " << i << " row " << r;
        }
      }
    }
    EXPECT_GE(worst, minimum_cosine) << GetParam() << " at " << to_string(plan.effective) << " ("
                                     << plan.kernel << ")";
    RecordProperty("worst_cosine", std::to_string(worst));
  }
};

// The bar on every fixture. The decoder fixtures (weights scaled so activations sit in the
// non-linear range) amplify the first block's rounding noise through every later block: with every
// block at int8 they reached only 0.9964-0.9974 on AVX2, hence the first block in f32
// (BackboneOptions::for_block).
TEST_P(FixtureAgreement, Int8) { check(Precision::Int8, 0.999); }
TEST_P(FixtureAgreement, Bf16OrItsFallback) { check(Precision::Bf16, 0.9999); }

// An inference-only load (what embed, the memory store and the service use) keeps only the packed
// weights: the same vectors as a load that keeps the float32 copies, and a clear refusal to train
// or save. Where int8 falls back to f32 there is nothing to free and the model stays whole.
TEST(InferenceOnlyLoad, EmbedsAsTheFullLoadAndRefusesTrainingAndSaving) {
  for (const char* fixture : {"bert-tiny", "qwen3-embed-tiny"}) {
    SCOPED_TRACE(fixture);
    const std::filesystem::path dir = fixture_dir(fixture);
    MEMEMBED_REQUIRE_SHARED(dir);
    const auto full = model::SentenceTransformer::load(dir, {0, Precision::Int8});
    const auto lean = model::SentenceTransformer::load(dir, {0, Precision::Int8, /*inference_only=*/true});
    const auto ids = read_json_file(dir / "expected.json")["cases"][0]["token_ids"].get<std::vector<int64_t>>();
    model::Features features;
    features.input_ids = at::tensor(ids, at::kLong).view({1, -1});
    features.attention_mask = at::ones_like(features.input_ids);
    {
      c10::InferenceMode guard;
      model::Features copy = features;
      EXPECT_TRUE(at::equal(full->forward(features), lean->forward(copy)));
    }
    if (lean->precision().effective == Precision::F32) {
      EXPECT_FALSE(lean->parameters().empty());
      continue;
    }
    for (const auto& attempt : std::vector<std::function<void()>>{
             [&] { lean->parameters(); },
             [&] { memembed::testing::TempDir out; lean->save(out.path()); },
             [&] {  // autograd on: the float32 path, whose weights are gone
               model::Features copy = features;
               lean->forward(copy);
             }}) {
      try {
        attempt();
        ADD_FAILURE() << "an inference-only model trained, saved or ran with autograd";
      } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::Unsupported) << e.what();
        EXPECT_NE(std::string(e.what()).find("inference"), std::string::npos) << e.what();
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FixtureAgreement,
                         ::testing::Values("bert-tiny", "bert-tiny-cls", "bert-tiny-f16", "gemma3-embed-tiny",
                                           "qwen3-embed-tiny"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (char& ch : name) ch = ch == '-' ? '_' : ch;
                           return name;
                         });

}  // namespace
