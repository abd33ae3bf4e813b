// `memory calibrate` and `eval tune-fusion --docs STORE` learn from the same documents through the
// same code (retrieval::tune_fusion_on_documents), and the store keeps the weight it chose.
#include "fixture_support.h"
#include "memembed/error.h"
#include "memembed/memory.h"
#include "memembed/retrieval.h"

#include <fmt/format.h>

namespace memembed::testing {

using namespace memembed::memory;

namespace {
const char* const kTopics[] = {"the garden tomatoes need water every morning before the heat",
                               "my sister plays violin in the city orchestra on weekends",
                               "we hiked up the mountain trail and camped beside the lake",
                               "the quarterly budget report is due to finance next friday"};
}  // namespace

TEST(Calibration, DocumentsAreLiveMemoriesGroupedByAgentInCreationOrder) {
  TempDir dir;
  MemoryStore store(open_sqlite_backend(dir.path()), {});
  const Timestamp hour = 3600LL * 1000000;
  for (int i = 0; i < 6; ++i) {
    StoreRequest r;
    r.content = fmt::format("memory {} of agent {}", i, i % 2 ? "b" : "a");
    if (i == 4) r.expires_at = now_micros() + hour;
    store.store(i % 2 ? "b" : "a", r);
  }
  EXPECT_EQ(calibration_documents(store.backend(), now_micros()),
            (std::vector<std::string>{"memory 0 of agent a", "memory 2 of agent a", "memory 4 of agent a",
                                      "memory 1 of agent b", "memory 3 of agent b", "memory 5 of agent b"}));
  EXPECT_EQ(calibration_documents(store.backend(), now_micros() + 2 * hour).size(), 5u) << "an expired memory is used";
}

TEST(Calibration, TheStoreCalibratesThroughTuneFusionOnDocumentsAndKeepsTheWeight) {
  MEMEMBED_REQUIRE_SHARED(fixture_dir("static-glove-25d"));
  TempDir dir;
  StoreOptions options;
  options.embedder = load_model_embedder(fixture_dir("static-glove-25d").string());
  MemoryStore store(open_sqlite_backend(dir.path()), options);
  for (int i = 0; i < 60; ++i) {
    StoreRequest r;
    r.content = fmt::format("{}. Note {} says it again: {}? Yes.", kTopics[i % 4], i, kTopics[(i / 4) % 4]);
    store.store(i % 3 ? "agent-1" : "agent-2", r);
  }
  EXPECT_THROW(MemoryStore(open_sqlite_backend(dir / "empty"), {}).calibrate_fusion(), Error) << "no model: refused";

  const retrieval::FusionTuning calibrated = store.calibrate_fusion();
  const auto& embedder = *options.embedder;
  const retrieval::FusionTuning direct = retrieval::tune_fusion_on_documents(
      calibration_documents(store.backend(), now_micros()),
      [&](const std::vector<std::string>& t) { return embedder.embed_documents(t); },
      [&](const std::vector<std::string>& t) { return embedder.embed_queries(t, std::nullopt); });
  EXPECT_EQ(calibrated.queries, direct.queries);
  EXPECT_EQ(calibrated.ndcg_at_10, direct.ndcg_at_10);
  EXPECT_EQ(calibrated.weight, direct.weight);
  EXPECT_EQ(store.status().fusion_weight, calibrated.weight);
}

}  // namespace memembed::testing
