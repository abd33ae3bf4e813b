// `memembed memory --database URL`: the memory commands on a PostgreSQL store, through the real
// binary - and a migration from PostgreSQL to the embedded store by export and import.
#include "cli_support.h"
#include "postgres_support.h"

#include "memembed/json_io.h"

namespace memembed::testing {
namespace {

Json json_of(const CommandResult& r) {
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return Json::parse(r.out);
}

TEST(PostgresCli, MemoryCommandsOnADatabaseAndAMigrationToTheEmbeddedStore) {
  const TempDir dir;
  const std::string database = " --database " + quote(test_database());
  const std::string id = json_of(run_memembed("memory add" + database +
                                              " --agent alice --category procedural --content "
                                              "'Deployed the billing service with helm on Tuesday'"))["id"];
  json_of(run_memembed("memory add" + database + " --agent alice --content 'Bob prefers tea'"));
  const Json found = json_of(run_memembed("memory search" + database + " --agent alice --query 'deploy billing'"));
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0]["id"], id);

  const std::string file = (dir / "memories.jsonl").string();
  const CommandResult exported = run_memembed("memory export" + database + " --output " + quote(file));
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  const std::string data = " --data " + quote((dir / "data").string());
  EXPECT_EQ(json_of(run_memembed("memory import" + data + " --input " + quote(file)))["imported"], 2);
  const Json migrated = json_of(run_memembed("memory search" + data + " --agent alice --query 'deploy billing'"));
  ASSERT_EQ(migrated.size(), 1u);
  EXPECT_EQ(migrated[0]["id"], id);

  const CommandResult both = run_memembed("memory count" + data + database + " --agent alice");
  EXPECT_NE(both.exit_code, 0);
  EXPECT_NE(both.err.find("exactly one of --data"), std::string::npos) << both.err;
}

}  // namespace
}  // namespace memembed::testing
