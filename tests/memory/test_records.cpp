#include "memembed/error.h"
#include "memembed/memory.h"

#include <gtest/gtest.h>

namespace memembed::memory {

TEST(Timestamps, ParseAndFormatRfc3339) {
  EXPECT_EQ(parse_timestamp("1970-01-01T00:00:00Z", "t"), 0);
  EXPECT_EQ(parse_timestamp("2026-11-30T17:05:00Z", "t"), 1796058300LL * 1000000);
  EXPECT_EQ(parse_timestamp("2026-11-30T18:05:00+01:00", "t"), 1796058300LL * 1000000);
  EXPECT_EQ(parse_timestamp("2026-11-30 17:05:00.25z", "t"), 1796058300LL * 1000000 + 250000);
  EXPECT_EQ(format_timestamp(1796058300LL * 1000000), "2026-11-30T17:05:00Z");
  EXPECT_EQ(format_timestamp(1796058300LL * 1000000 + 7), "2026-11-30T17:05:00.000007Z");
  EXPECT_EQ(format_timestamp(-1000000), "1969-12-31T23:59:59Z");
  EXPECT_EQ(parse_timestamp("2024-02-29T00:00:00Z", "t") - parse_timestamp("2024-02-28T00:00:00Z", "t"),
            86400LL * 1000000);
  for (const Timestamp t : {Timestamp{0}, Timestamp{1796058300123456}, Timestamp{-86400000001}}) {
    EXPECT_EQ(parse_timestamp(format_timestamp(t), "t"), t);
  }
  for (const char* bad : {"2026-11-30", "2026-11-30T17:05:00", "2026-02-30T00:00:00Z", "2023-02-29T00:00:00Z",
                          "2026-11-30T25:00:00Z", "2026-11-30T17:05:00Zjunk", "2026-11-30T17:05:00.Z", ""}) {
    try {
      parse_timestamp(bad, "expires_at");
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("expires_at"), std::string::npos) << e.what();
    }
  }
}

TEST(Categories, ParseAnyCaseAndRefuseWorking) {
  EXPECT_EQ(parse_category("social"), Category::Social);
  EXPECT_EQ(parse_category("PROCEDURAL"), Category::Procedural);
  EXPECT_EQ(parse_category("Working"), Category::Working);
  EXPECT_THROW(check_storable(Category::Working), Error);
  EXPECT_NO_THROW(check_storable(Category::Semantic));
  EXPECT_THROW(parse_category("dialogue", "category"), Error);
}

TEST(Records, JsonRoundTrip) {
  MemoryEntry e;
  e.id = "id-1";
  e.agent_id = "a";
  e.namespace_ = "ns";
  e.category = Category::Procedural;
  e.content = "how to reset the router";
  e.metadata = {"manual", 0.25, {"net"}};
  e.created_at = 1796058300123456;
  e.updated_at = e.created_at + 5;
  e.expires_at = e.created_at + 1000000;
  e.shared = true;
  const MemoryEntry back = entry_from_json(to_json(e), "test");
  EXPECT_EQ(to_json(back), to_json(e));
  Json bad = to_json(e);
  bad["metadata"]["colour"] = "red";
  EXPECT_THROW(entry_from_json(bad, "x"), Error);
  bad = to_json(e);
  bad["created_at"] = "soon";
  EXPECT_THROW(entry_from_json(bad, "x"), Error);
}

}  // namespace memembed::memory
