// `memembed memory` end to end through the real binary.
#include "cli_support.h"
#include "memembed/memory.h"

namespace memembed::testing {

namespace {
Json json_of(const CommandResult& r) {
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return Json::parse(r.out);
}
}  // namespace

TEST(MemoryCli, AddSearchGetUpdateCountPublishDelete) {
  const TempDir dir_temp;
  const auto dir = dir_temp.path().string();
  const std::string data = " --data " + dir;
  const std::string id = json_of(run_memembed("memory add" + data +
                                              " --agent alice --category procedural --tag ops --content "
                                              "'Deployed the billing service with helm on Tuesday'"))["id"];
  json_of(run_memembed("memory add" + data + " --agent alice --category social --content 'Bob prefers tea'"));
  json_of(run_memembed("memory add" + data + " --agent bob --content 'billing dashboards for bob'"));

  Json found = json_of(run_memembed("memory search" + data + " --agent alice --query 'how did we deploy billing'"));
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0]["id"], id);
  EXPECT_GT(found[0]["relevance_score"].get<double>(), 0.0);
  EXPECT_EQ(json_of(run_memembed("memory search" + data + " --agent alice --category SOCIAL")).size(), 1u);
  EXPECT_EQ(json_of(run_memembed("memory get" + data + " --agent alice --id " + id))["category"], "PROCEDURAL");

  Json updated = json_of(run_memembed("memory update" + data + " --agent alice --id " + id +
                                      " --content 'Deployed billing with argo' --tag ops --tag ci --expires-at +2h"));
  EXPECT_EQ(updated["metadata"]["tags"], Json({"ops", "ci"}));
  EXPECT_FALSE(updated["expires_at"].is_null());
  EXPECT_EQ(json_of(run_memembed("memory count" + data + " --agent alice"))["count"], 2);
  EXPECT_EQ(json_of(run_memembed("memory count" + data + " --agent alice --category social"))["count"], 1);

  EXPECT_TRUE(json_of(run_memembed("memory search" + data + " --shared --query billing")).empty());
  json_of(run_memembed("memory publish" + data + " --agent alice --id " + id));
  EXPECT_EQ(json_of(run_memembed("memory search" + data + " --shared --query argo")).size(), 1u);
  EXPECT_TRUE(json_of(run_memembed("memory search" + data + " --shared --query argo --exclude-agent alice")).empty());

  // Another agent cannot touch it.
  const auto denied = run_memembed("memory delete" + data + " --agent bob --id " + id);
  EXPECT_EQ(denied.exit_code, 4);
  EXPECT_NE(denied.err.find("not found"), std::string::npos);
  json_of(run_memembed("memory delete" + data + " --agent alice --id " + id));
  EXPECT_EQ(json_of(run_memembed("memory count" + data + " --agent alice"))["count"], 1);
  Json status = json_of(run_memembed("memory status" + data));
  EXPECT_EQ(status["memories"], 2);
}

TEST(MemoryCli, BadInputExitsWithAMessageAndStoresNothing) {
  const TempDir dir_temp;
  const auto dir = dir_temp.path().string();
  const std::string data = " --data " + dir + " --agent a";
  auto r = run_memembed("memory add" + data + " --category WORKING --content scratch");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("WORKING cannot be stored"), std::string::npos) << r.err;
  r = run_memembed("memory add" + data + " --content x --confidence 2");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("confidence"), std::string::npos) << r.err;
  r = run_memembed("memory add" + data + " --content x --expires-at tomorrow");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("--expires-at"), std::string::npos) << r.err;
  r = run_memembed("memory search" + data + " --query x --limit 5000");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("limit 5000"), std::string::npos) << r.err;
  r = run_memembed("memory add" + data + " --category feelings --content x");
  EXPECT_NE(r.err.find("unknown category"), std::string::npos) << r.err;
  EXPECT_EQ(json_of(run_memembed("memory count" + data))["count"], 0);
}

TEST(MemoryCli, ASecondProcessIsRefusedWhileTheStoreIsOpen) {
  const TempDir dir_temp;
  const auto dir = dir_temp.path();
  auto held = memory::open_sqlite_backend(dir);
  const auto r = run_memembed("memory count --data " + dir.string() + " --agent a");
  EXPECT_EQ(r.exit_code, 6);
  EXPECT_NE(r.err.find("in use by another process (pid " + std::to_string(::getpid()) + ")"), std::string::npos)
      << r.err;
}

TEST(MemoryCli, ExportImportRoundTrip) {
  const TempDir a_temp, b_temp;
  const auto a = a_temp.path().string(), b = b_temp.path().string();
  json_of(run_memembed("memory add --data " + a + " --agent x --content 'first memory' --tag t"));
  json_of(run_memembed("memory add --data " + a + " --agent y --content 'second memory' --expires-at +1d"));
  ASSERT_EQ(run_memembed("memory export --data " + a + " --output " + a + "/export.jsonl").exit_code, 0);
  EXPECT_EQ(json_of(run_memembed("memory import --data " + b + " --input " + a + "/export.jsonl"))["imported"], 2);
  const auto again = run_memembed("memory export --data " + b);
  EXPECT_EQ(again.out, read_file(a + "/export.jsonl"));
}

}  // namespace memembed::testing
