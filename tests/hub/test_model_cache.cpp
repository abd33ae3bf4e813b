// The offline half of the hub module: cache location, resolve_model's messages, the listing
// parser's refusals and the hashes used to verify files.

#include "hub/hub_test_support.h"

#include "memembed/error.h"
#include "memembed/hub.h"

#include "download.h"
#include "hub_client.h"
#include "model_cache.h"

#include <gtest/gtest.h>

namespace memembed::test {
namespace {

namespace fs = std::filesystem;

std::string resolve_error(const std::string& spec, ErrorKind expected_kind) {
  try {
    hub::resolve_model(spec);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), expected_kind) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "resolve_model(" << spec << ") succeeded";
  return {};
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(CacheRoot, EnvironmentPrecedence) {
  ScopedEnv home("HOME", "/home/someone");
  {
    ScopedEnv cache("MEMEMBED_CACHE", "/data/models");
    ScopedEnv xdg("XDG_CACHE_HOME", "/xdg");
    EXPECT_EQ(hub::cache_root(), fs::path("/data/models"));
  }
  {
    ScopedEnv cache("MEMEMBED_CACHE", std::nullopt);
    ScopedEnv xdg("XDG_CACHE_HOME", "/xdg");
    EXPECT_EQ(hub::cache_root(), fs::path("/xdg/memembed/models"));
  }
  {
    ScopedEnv cache("MEMEMBED_CACHE", std::nullopt);
    ScopedEnv xdg("XDG_CACHE_HOME", "relative/ignored");
    EXPECT_EQ(hub::cache_root(), fs::path("/home/someone/.cache/memembed/models"));
  }
}

TEST(CacheDir, OneDirectoryPerRevision) {
  ScopedEnv cache("MEMEMBED_CACHE", "/c");
  EXPECT_EQ(hub::cache_dir("BAAI/bge-small-en-v1.5"), fs::path("/c/BAAI/bge-small-en-v1.5/main"));
  EXPECT_EQ(hub::cache_dir("org/name", "refs/pr/1"), fs::path("/c/org/name/refs%2Fpr%2F1"));
  EXPECT_EQ(hub::cache_dir("org/name", "50%"), fs::path("/c/org/name/50%25"));
  EXPECT_THROW(hub::cache_dir("org/name", ".."), Error);
  EXPECT_THROW(hub::cache_dir("no-slash"), Error);
}

TEST(RepoId, AcceptsHubNamesOnly) {
  EXPECT_TRUE(hub::is_repo_id("google/embeddinggemma-300m"));
  EXPECT_TRUE(hub::is_repo_id("Qwen/Qwen3-Embedding-0.6B"));
  EXPECT_TRUE(hub::is_repo_id("sentence-transformers/all_MiniLM-L6-v2"));
  EXPECT_FALSE(hub::is_repo_id("bert-base-uncased"));
  EXPECT_FALSE(hub::is_repo_id("a/b/c"));
  EXPECT_FALSE(hub::is_repo_id("../x"));
  EXPECT_FALSE(hub::is_repo_id("org/.."));
  EXPECT_FALSE(hub::is_repo_id("org/"));
  EXPECT_FALSE(hub::is_repo_id("org/na me"));
  EXPECT_FALSE(hub::is_repo_id("/abs/path"));
}

class ResolveModelTest : public ::testing::Test {
 protected:
  ResolveModelTest() : cache_("MEMEMBED_CACHE", (scratch_.path() / "cache").string()) {}
  TempDir scratch_;
  ScopedEnv cache_;
};

TEST_F(ResolveModelTest, ExistingDirectoryIsUsedAsIs) {
  const fs::path dir = scratch_.path() / "my-model";
  fs::create_directories(dir);
  EXPECT_EQ(hub::resolve_model(dir.string()), dir);
}

TEST_F(ResolveModelTest, MissingModelNamesItAndThePullCommand) {
  const std::string message = resolve_error("google/embeddinggemma-300m", ErrorKind::NotFound);
  EXPECT_TRUE(contains(message, "'google/embeddinggemma-300m'")) << message;
  EXPECT_TRUE(contains(message, "memembed pull google/embeddinggemma-300m")) << message;
  EXPECT_TRUE(contains(message, (scratch_.path() / "cache").string())) << message;
  EXPECT_FALSE(contains(message, "--revision")) << message;

  const std::string pinned = resolve_error("google/embeddinggemma-300m@v1.0", ErrorKind::NotFound);
  EXPECT_TRUE(contains(pinned, "memembed pull google/embeddinggemma-300m --revision v1.0")) << pinned;
}

TEST_F(ResolveModelTest, IncompletePullIsNotAModel) {
  const fs::path dir = hub::cache_dir("org/model");
  write_bytes(dir / "config.json", "{}");
  const std::string message = resolve_error("org/model", ErrorKind::NotFound);
  EXPECT_TRUE(contains(message, "incomplete")) << message;
  EXPECT_TRUE(contains(message, "memembed pull org/model")) << message;

  hub::Manifest manifest;
  manifest.repo = "org/model";
  manifest.revision = "main";
  manifest.commit = "abc";
  manifest.files["config.json"] = {2, "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", ""};
  hub::write_manifest(dir, manifest);
  EXPECT_EQ(hub::resolve_model("org/model"), dir);
  const auto read_back = hub::read_manifest(dir);
  ASSERT_TRUE(read_back.has_value());
  EXPECT_EQ(read_back->commit, "abc");
  EXPECT_EQ(read_back->files.at("config.json").size, 2u);
}

TEST_F(ResolveModelTest, PathsThatAreNotIdsSayTheDirectoryIsMissing) {
  const std::string message = resolve_error("./nowhere/at/all", ErrorKind::NotFound);
  EXPECT_TRUE(contains(message, "'./nowhere/at/all' does not exist")) << message;
  write_bytes(scratch_.path() / "file.bin", "x");
  resolve_error((scratch_.path() / "file.bin").string(), ErrorKind::InvalidInput);
  resolve_error("", ErrorKind::InvalidInput);
}

Json listing(const Json& siblings) { return Json{{"id", "o/n"}, {"sha", "c0ffee"}, {"siblings", siblings}}; }

TEST(ParseSnapshot, ReadsSizesAndHashes) {
  const std::string sha = std::string(64, 'a');
  const auto snapshot = hub::parse_snapshot(
      listing(Json::array({Json{{"rfilename", "config.json"}, {"size", 10},
                                {"blobId", std::string(40, 'b')}},
                           Json{{"rfilename", "model.safetensors"},
                                {"size", 1000},
                                {"blobId", std::string(40, 'c')},
                                {"lfs", {{"sha256", sha}, {"size", 1000}, {"pointerSize", 134}}}},
                           Json{{"rfilename", "README.md"}}})),
      "o/n", "main", "test");
  EXPECT_EQ(snapshot.commit, "c0ffee");
  ASSERT_EQ(snapshot.files.size(), 3u);
  EXPECT_EQ(*snapshot.files[0].size, 10u);
  EXPECT_FALSE(snapshot.files[0].lfs);
  EXPECT_TRUE(snapshot.files[1].lfs);
  EXPECT_EQ(snapshot.files[1].sha256, sha);
  EXPECT_FALSE(snapshot.files[2].size.has_value());
}

TEST(ParseSnapshot, RefusesListingsThatWouldEscapeOrLie) {
  for (const std::string path : {"../evil", "/etc/passwd", "a//b", "a/./b", "a/../../b", "", "a\\b"}) {
    EXPECT_THROW(hub::parse_snapshot(listing(Json::array({Json{{"rfilename", path}}})), "o/n",
                                     "main", "test"),
                 Error)
        << path;
  }
  EXPECT_THROW(hub::parse_snapshot(Json{{"sha", "x"}}, "o/n", "main", "test"), Error);
  EXPECT_THROW(hub::parse_snapshot(Json::array(), "o/n", "main", "test"), Error);
  EXPECT_THROW(hub::parse_snapshot(listing(Json::array({Json{{"rfilename", "m"},
                                                             {"size", 5},
                                                             {"lfs", {{"size", 6}}}}})),
                                   "o/n", "main", "test"),
               Error);
  EXPECT_THROW(hub::parse_snapshot(listing(Json::array({Json{{"rfilename", "m"},
                                                             {"lfs", {{"sha256", "short"}}}}})),
                                   "o/n", "main", "test"),
               Error);
}

TEST(Digest, MatchesGitAndSha256OfKnownContent) {
  TempDir scratch;
  write_bytes(scratch.path() / "hello", "hello\n");
  const hub::FileDigest digest = hub::digest_file(scratch.path() / "hello");
  EXPECT_EQ(digest.size, 6u);
  // `printf 'hello\n' | sha256sum` and `printf 'hello\n' | git hash-object --stdin`
  EXPECT_EQ(digest.sha256, "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03");
  EXPECT_EQ(digest.git_sha1, "ce013625030ba8dba906f756967f9e9ca394464a");

  hub::RepoFile file;
  file.path = "hello";
  file.size = 6;
  file.blob_id = "ce013625030ba8dba906f756967f9e9ca394464a";
  EXPECT_EQ(hub::content_mismatch(file, digest, ""), "");
  file.blob_id = std::string(40, '0');
  EXPECT_TRUE(contains(hub::content_mismatch(file, digest, ""), "git blob sha1"));
  file.lfs = true;  // an LFS blob id hashes the pointer, so it is not compared
  EXPECT_EQ(hub::content_mismatch(file, digest, ""), "");
  EXPECT_TRUE(contains(hub::content_mismatch(file, digest, std::string(64, '1')), "sha256"));
  file.size = 7;
  EXPECT_TRUE(contains(hub::content_mismatch(file, digest, ""), "size"));
}

TEST(FileUrl, EscapesEachSegment) {
  hub::HttpClient http({});
  hub::HubClient client(http, "https://hub.example/", "org/name", {});
  EXPECT_EQ(client.file_url("abc", "2_Dense/config file.json"),
            "https://hub.example/org/name/resolve/abc/2_Dense/config%20file.json");
  EXPECT_EQ(client.api_url("refs/pr/1"),
            "https://hub.example/api/models/org/name/revision/refs%2Fpr%2F1?blobs=true");
}

}  // namespace
}  // namespace memembed::test
