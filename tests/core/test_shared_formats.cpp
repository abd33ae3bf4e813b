// The definitions that two modules share through core: LMEB's aggregation (eval's tables and
// select's evidence reader) and the bench record (bench writes it, recommend --bench reads it).
#include "memembed/bench_record.h"
#include "memembed/error.h"
#include "memembed/lmeb_aggregation.h"

#include <gtest/gtest.h>

using namespace memembed;

TEST(LmebAggregation, MeansOfSubsetsThenDatasetsThenTypes) {
  // Input order is scrambled on purpose; Dialogue has one dataset with two subsets, Episodic two
  // datasets, and a type outside LMEB's four sorts after them.
  const LmebAggregate a = aggregate_lmeb({
      {"Semantic", "S1", 0.9},
      {"Dialogue", "D1", 0.2},
      {"Episodic", "E2", 0.6},
      {"Custom", "C1", 0.0},
      {"Dialogue", "D1", 0.4},
      {"Episodic", "E1", 0.5},
  });
  ASSERT_EQ(a.datasets.size(), 5u);
  EXPECT_EQ(a.datasets[0].dataset, "E1");
  EXPECT_EQ(a.datasets[1].dataset, "E2");
  EXPECT_EQ(a.datasets[2].dataset, "D1");
  EXPECT_EQ(a.datasets[2].subsets, 2u);
  EXPECT_NEAR(a.datasets[2].value, 0.3, 1e-12);
  ASSERT_EQ(a.types.size(), 4u);
  EXPECT_EQ(a.types[0].memory_type, "Episodic");
  EXPECT_EQ(a.types[0].datasets, 2u);
  EXPECT_NEAR(a.types[0].value, 0.55, 1e-12);
  EXPECT_EQ(a.types[1].memory_type, "Dialogue");
  EXPECT_EQ(a.types[2].memory_type, "Semantic");
  EXPECT_EQ(a.types[3].memory_type, "Custom");
  // Mean (Dataset) over 0.5, 0.6, 0.3, 0.9, 0.0; Mean (Type) over 0.55, 0.3, 0.9, 0.0.
  EXPECT_NEAR(a.mean_dataset, 2.3 / 5, 1e-12);
  EXPECT_NEAR(a.mean_type, 1.75 / 4, 1e-12);
  EXPECT_TRUE(aggregate_lmeb({}).empty());
}

TEST(BenchRecord, WhatBenchWritesReadsBack) {
  BenchRecord written;
  written.model = "org/model";
  written.model_dir = "/models/org/model";
  written.texts_per_second = 120.5;
  written.tokens_per_second = 4820;
  written.mean_tokens_per_text = 40;
  written.peak_rss_bytes = 512e6;
  written.threads = 2;
  written.precision = "int8";
  const BenchRecord read = read_bench_record(to_json(written), "bench.json");
  EXPECT_EQ(read.model, written.model);
  EXPECT_EQ(read.model_dir, written.model_dir);
  EXPECT_EQ(read.texts_per_second, written.texts_per_second);
  EXPECT_EQ(read.tokens_per_second, written.tokens_per_second);
  EXPECT_EQ(read.mean_tokens_per_text, written.mean_tokens_per_text);
  EXPECT_EQ(read.peak_rss_bytes, written.peak_rss_bytes);
  EXPECT_EQ(read.threads, 2);
  EXPECT_EQ(read.device, "cpu");
  EXPECT_EQ(read.precision, "int8");
}

TEST(BenchRecord, BadFieldsAreInvalidInputNamingFileAndField) {
  const Json good = to_json(BenchRecord{"m", "", 1, 1, 1, 1, 1, "cpu", "f32"});
  const auto message_for = [](const Json& document) {
    try {
      read_bench_record(document, "bench.json");
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidInput) << e.what();
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  Json bad = good;
  bad["texts_per_second"] = 0;
  EXPECT_NE(message_for(bad).find("bench.json: \"texts_per_second\""), std::string::npos) << message_for(bad);
  bad = good;
  bad["threads"] = 1e300;
  EXPECT_NE(message_for(bad).find("\"threads\""), std::string::npos) << message_for(bad);
  bad = good;
  bad["device"] = "tpu";
  EXPECT_NE(message_for(bad).find("\"device\""), std::string::npos) << message_for(bad);
  bad = good;
  bad.erase("model");
  EXPECT_NE(message_for(bad).find("model"), std::string::npos) << message_for(bad);
  EXPECT_NE(message_for(Json::array()).find("bench.json"), std::string::npos);
}
