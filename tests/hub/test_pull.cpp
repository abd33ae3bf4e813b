// memembed::hub::pull against a real local HTTP server in the hub's URL layout (FakeHub): the hub
// itself cannot be reached from the test machines.

#include "hub/fake_hub.h"
#include "hub/hub_test_support.h"

#include "memembed/error.h"
#include "memembed/hub.h"
#include "memembed/json_io.h"

#include "download.h"
#include "http_client.h"
#include "model_cache.h"

#include <gtest/gtest.h>

#include <chrono>

namespace memembed::test {
namespace {

namespace fs = std::filesystem;
using hub::PullOptions;
using hub::PullResult;

constexpr const char* kRepo = "test-org/tiny";
constexpr const char* kCommit = "1111111111111111111111111111111111111111";
constexpr const char* kCommit2 = "2222222222222222222222222222222222222222";

class PullTest : public ::testing::Test {
 protected:
  PullTest()
      : cache_env_("MEMEMBED_CACHE", (scratch_.path() / "cache").string()),
        token_env_("HF_TOKEN", std::nullopt),
        endpoint_env_("HF_ENDPOINT", std::nullopt),
        no_proxy_env_("no_proxy", "127.0.0.1,localhost"),
        no_proxy_upper_env_("NO_PROXY", "127.0.0.1,localhost") {
    make_synthetic_repo(source());
    hub_.add_repo(kRepo, source(), kCommit);
  }

  fs::path source() const { return scratch_.path() / "source"; }
  fs::path cache_model_dir() const { return scratch_.path() / "cache" / "test-org" / "tiny" / "main"; }

  PullOptions options() const {
    PullOptions options;
    options.endpoint = hub_.endpoint();
    options.retries = 2;
    options.retry_delay = std::chrono::milliseconds(10);
    options.connect_timeout_s = 2;
    options.stall_timeout_s = 2;
    options.show_progress = false;
    return options;
  }

  // Runs pull expecting an Error; returns it.
  Error pull_error(const std::string& repo, const PullOptions& options) {
    try {
      hub::pull(repo, options);
    } catch (const Error& e) {
      return e;
    }
    ADD_FAILURE() << "pull of " << repo << " succeeded but should have failed";
    return Error(ErrorKind::Internal, "no error");
  }

  size_t count_requests(const std::string& server, const std::string& path_part) const {
    size_t count = 0;
    for (const LoggedRequest& request : hub_.requests()) {
      if (request.server == server && request.path.find(path_part) != std::string::npos) ++count;
    }
    return count;
  }

  TempDir scratch_;
  ScopedEnv cache_env_;
  ScopedEnv token_env_;
  ScopedEnv endpoint_env_;
  ScopedEnv no_proxy_env_;
  ScopedEnv no_proxy_upper_env_;
  FakeHub hub_;
};

bool leaves_incomplete_files(const fs::path& dir) {
  if (!fs::exists(dir)) return false;
  for (const auto& item : fs::recursive_directory_iterator(dir)) {
    if (item.path().extension() == ".incomplete") return true;
  }
  return false;
}

TEST_F(PullTest, PullsEveryFileIntoTheCacheByteForByte) {
  const PullResult result = hub::pull(kRepo, options());
  EXPECT_EQ(result.dir, cache_model_dir());
  EXPECT_EQ(result.commit, kCommit);
  EXPECT_EQ(result.files.size(), 6u);
  expect_same_files(source(), result.dir);
  EXPECT_TRUE(fs::is_regular_file(result.dir / "empty.txt"));
  EXPECT_EQ(fs::file_size(result.dir / "empty.txt"), 0u);
  EXPECT_FALSE(leaves_incomplete_files(result.dir));
  EXPECT_EQ(hub::resolve_model(kRepo), result.dir);

  // The listing asked for sizes and hashes; files were fetched at the pinned commit, LFS files
  // through the CDN redirect.
  bool asked_blobs = false;
  for (const LoggedRequest& request : hub_.requests()) {
    if (request.path.find("/api/models/") == 0) asked_blobs = request.query == "blobs=true";
    if (request.path.find("/resolve/") != std::string::npos) {
      EXPECT_NE(request.path.find(std::string("/resolve/") + kCommit + "/"), std::string::npos)
          << request.path;
    }
  }
  EXPECT_TRUE(asked_blobs);
  EXPECT_EQ(count_requests("cdn", "/blobs/"), 2u);  // model.safetensors and tokenizer.json

  // The manifest records what was verified.
  const Json manifest = read_json_file(result.dir / hub::kManifestName);
  EXPECT_EQ(manifest["repo"], kRepo);
  EXPECT_EQ(manifest["commit"], kCommit);
  EXPECT_EQ(manifest["files"].size(), 6u);
  for (const Json& file : manifest["files"]) {
    const std::string path = file["path"].get<std::string>();
    EXPECT_EQ(file["sha256"], sha256_hex(read_file_bytes(source() / path))) << path;
  }
}

TEST_F(PullTest, PullsTheSharedBertFixtureByteForByte) {
  const fs::path fixture = memembed::testing::fixture_dir("bert-tiny");
  MEMEMBED_REQUIRE_SHARED(fixture);
  hub_.add_repo("fixtures/bert-tiny", fixture, kCommit2);
  PullOptions opts = options();
  opts.dir = scratch_.path() / "bert";
  const PullResult result = hub::pull("fixtures/bert-tiny", opts);
  EXPECT_EQ(result.dir, opts.dir);
  expect_same_files(fixture, result.dir);
  EXPECT_EQ(hub::resolve_model(opts.dir.string()), opts.dir);
}

TEST_F(PullTest, SecondPullKeepsVerifiedFilesWithoutDownloading) {
  hub::pull(kRepo, options());
  hub_.clear_requests();
  const PullResult again = hub::pull(kRepo, options());
  EXPECT_EQ(again.bytes_downloaded, 0u);
  for (const hub::PulledFile& file : again.files) EXPECT_FALSE(file.downloaded) << file.path;
  EXPECT_EQ(count_requests("hub", "/resolve/"), 0u);
  EXPECT_EQ(count_requests("cdn", "/blobs/"), 0u);
}

TEST_F(PullTest, InterruptedDownloadResumesWithRangeOnTheNextRun) {
  constexpr uint64_t kCut = 1234567;
  hub_.cut_next_response("model.safetensors", kCut);
  PullOptions no_retry = options();
  no_retry.retries = 0;
  const Error error = pull_error(kRepo, no_retry);
  EXPECT_EQ(error.kind(), ErrorKind::Network);
  EXPECT_NE(std::string(error.what()).find("resume"), std::string::npos) << error.what();

  const fs::path partial = cache_model_dir() / "model.safetensors.incomplete";
  ASSERT_TRUE(fs::exists(partial));
  EXPECT_EQ(fs::file_size(partial), kCut);
  EXPECT_FALSE(fs::exists(cache_model_dir() / "model.safetensors"));
  EXPECT_FALSE(fs::exists(cache_model_dir() / hub::kManifestName));
  EXPECT_THROW(hub::resolve_model(kRepo), Error);

  hub_.clear_requests();
  const PullResult result = hub::pull(kRepo, options());
  expect_same_files(source(), result.dir);
  bool resumed = false;
  for (const LoggedRequest& request : hub_.requests()) {
    if (request.server == "cdn" && request.range == "bytes=" + std::to_string(kCut) + "-") resumed = true;
  }
  EXPECT_TRUE(resumed) << "no Range request continuing at byte " << kCut;
  const uint64_t weights = fs::file_size(source() / "model.safetensors");
  // Only the missing part of the weights travelled again (plus the files not fetched before).
  EXPECT_LT(result.bytes_downloaded, weights);
  EXPECT_FALSE(leaves_incomplete_files(result.dir));
}

TEST_F(PullTest, CutTransferIsResumedWithinTheSamePull) {
  hub_.cut_next_response("tokenizer.json", 50000);
  hub_.cut_next_response("config.json", 10);
  const PullResult result = hub::pull(kRepo, options());
  expect_same_files(source(), result.dir);
  // Each cut file is asked for again from where it stopped: the LFS one at the CDN, the git one
  // at the hub.
  size_t resumed_lfs = 0;
  size_t resumed_git = 0;
  for (const LoggedRequest& request : hub_.requests()) {
    if (request.server == "cdn" && request.range == "bytes=50000-") ++resumed_lfs;
    if (request.server == "hub" && request.range == "bytes=10-") {
      EXPECT_NE(request.path.find("/resolve/" + std::string(kCommit) + "/config.json"), std::string::npos);
      ++resumed_git;
    }
  }
  EXPECT_EQ(resumed_lfs, 1u);
  EXPECT_EQ(resumed_git, 1u);
}

TEST_F(PullTest, ExistingIncompleteFileIsContinued) {
  const std::string weights = read_file_bytes(source() / "model.safetensors");
  write_bytes(cache_model_dir() / "model.safetensors.incomplete", weights.substr(0, 1000000));
  const std::string config = read_file_bytes(source() / "config.json");
  write_bytes(cache_model_dir() / "config.json.incomplete", config.substr(0, 7));
  const PullResult result = hub::pull(kRepo, options());
  expect_same_files(source(), result.dir);
  std::set<std::string> ranges;
  for (const LoggedRequest& request : hub_.requests()) ranges.insert(request.range);
  EXPECT_TRUE(ranges.count("bytes=1000000-"));
  EXPECT_TRUE(ranges.count("bytes=7-"));
}

TEST_F(PullTest, IncompleteFileWithWrongBytesIsReplacedByAFreshDownload) {
  write_bytes(cache_model_dir() / "model.safetensors.incomplete", std::string(4096, 'x'));
  const PullResult result = hub::pull(kRepo, options());
  expect_same_files(source(), result.dir);
}

TEST_F(PullTest, CorruptLfsDownloadIsRefusedBySha256) {
  hub_.corrupt("model.safetensors");
  const Error error = pull_error(kRepo, options());
  const std::string message = error.what();
  EXPECT_EQ(error.kind(), ErrorKind::Network);
  EXPECT_NE(message.find("model.safetensors"), std::string::npos) << message;
  EXPECT_NE(message.find("sha256"), std::string::npos) << message;
  EXPECT_NE(message.find("corrupt"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(cache_model_dir() / "model.safetensors"));
  EXPECT_FALSE(fs::exists(cache_model_dir() / "model.safetensors.incomplete"));
  EXPECT_FALSE(fs::exists(cache_model_dir() / hub::kManifestName));
}

TEST_F(PullTest, CorruptGitFileIsRefusedByItsBlobId) {
  hub_.corrupt("modules.json");
  const Error error = pull_error(kRepo, options());
  EXPECT_EQ(error.kind(), ErrorKind::Network);
  EXPECT_NE(std::string(error.what()).find("git blob sha1"), std::string::npos) << error.what();
  EXPECT_FALSE(fs::exists(cache_model_dir() / "modules.json"));
}

TEST_F(PullTest, ListingWithoutHashesFallsBackToTheLinkedEtag) {
  hub_.omit_file_metadata(true);
  const PullResult result = hub::pull(kRepo, options());
  expect_same_files(source(), result.dir);
  hub_.clear_requests();
  EXPECT_EQ(hub::pull(kRepo, options()).bytes_downloaded, 0u) << "same commit: nothing to fetch";

  // The sha256 in X-Linked-Etag on the hub's redirect still catches a corrupt LFS file.
  hub_.corrupt("model.safetensors");
  PullOptions opts = options();
  opts.dir = scratch_.path() / "elsewhere";
  const Error error = pull_error(kRepo, opts);
  EXPECT_NE(std::string(error.what()).find("sha256"), std::string::npos) << error.what();
  EXPECT_FALSE(fs::exists(opts.dir / "model.safetensors"));
}

TEST_F(PullTest, UnknownRepositoryIsNotFound) {
  const Error error = pull_error("test-org/no-such-model", options());
  EXPECT_EQ(error.kind(), ErrorKind::NotFound);
  EXPECT_NE(std::string(error.what()).find("test-org/no-such-model"), std::string::npos);
  EXPECT_NE(std::string(error.what()).find("not found"), std::string::npos);
  EXPECT_FALSE(fs::exists(scratch_.path() / "cache" / "test-org" / "no-such-model"));
}

TEST_F(PullTest, UnknownRepositoryHiddenBehind401IsNotFoundWithATokenHint) {
  hub_.hide_unknown_repos(true);
  const Error error = pull_error("test-org/no-such-model", options());
  EXPECT_EQ(error.kind(), ErrorKind::NotFound);
  EXPECT_NE(std::string(error.what()).find("HF_TOKEN"), std::string::npos) << error.what();
}

TEST_F(PullTest, UnknownRevisionIsNotFound) {
  PullOptions opts = options();
  opts.revision = "v9.9";
  const Error error = pull_error(kRepo, opts);
  EXPECT_EQ(error.kind(), ErrorKind::NotFound);
  EXPECT_NE(std::string(error.what()).find("revision 'v9.9'"), std::string::npos) << error.what();
}

TEST_F(PullTest, PrivateRepositoryNeedsTheToken) {
  hub_.make_private(kRepo, "secret-token");
  Error anonymous = pull_error(kRepo, options());
  EXPECT_EQ(anonymous.kind(), ErrorKind::Network);
  EXPECT_NE(std::string(anonymous.what()).find("401"), std::string::npos) << anonymous.what();
  EXPECT_NE(std::string(anonymous.what()).find("HF_TOKEN"), std::string::npos) << anonymous.what();

  PullOptions wrong = options();
  wrong.token = "not-the-token";
  Error rejected = pull_error(kRepo, wrong);
  EXPECT_NE(std::string(rejected.what()).find("rejected"), std::string::npos) << rejected.what();

  hub_.clear_requests();
  ScopedEnv token("HF_TOKEN", "secret-token");
  const PullResult result = hub::pull(kRepo, options());
  expect_same_files(source(), result.dir);
  // The token goes to the hub, never to the storage host a redirect leads to.
  for (const LoggedRequest& request : hub_.requests()) {
    const std::string expected = request.server == "hub" ? "Bearer secret-token" : "";
    EXPECT_EQ(request.authorization, expected) << request.server << " " << request.path;
  }
}

TEST_F(PullTest, GatedRepositoryExplainsHowToGetAccess) {
  hub_.make_gated(kRepo);
  const Error error = pull_error(kRepo, options());
  const std::string message = error.what();
  EXPECT_EQ(error.kind(), ErrorKind::Network);
  EXPECT_NE(message.find("gated"), std::string::npos) << message;
  EXPECT_NE(message.find(hub_.endpoint() + "/" + kRepo), std::string::npos) << message;
}

TEST_F(PullTest, ServerDownFailsFastWithNetworkError) {
  std::string endpoint;
  {
    FakeHub gone;  // a port that was just listening and now refuses connections
    endpoint = gone.endpoint();
  }
  PullOptions opts = options();
  opts.endpoint = endpoint;
  const Error error = pull_error(kRepo, opts);
  EXPECT_EQ(error.kind(), ErrorKind::Network);
  EXPECT_NE(std::string(error.what()).find("cannot reach"), std::string::npos) << error.what();
  // What the retry loops consult: a refused connection is not a transient failure, so an
  // offline machine fails at once instead of waiting through the retries.
  hub::HttpClient http(hub::HttpSettings{});
  const hub::HttpResult refused = http.get(endpoint + "/api/models/" + kRepo);
  EXPECT_FALSE(refused.completed());
  EXPECT_FALSE(refused.transient_transport_failure()) << refused.transport_error;
}

TEST_F(PullTest, StalledTransferTimesOutInsteadOfHanging) {
  hub_.stall("model.safetensors");
  PullOptions opts = options();
  opts.stall_timeout_s = 1;
  opts.retries = 1;
  const Error error = pull_error(kRepo, opts);
  EXPECT_EQ(error.kind(), ErrorKind::Network);
  EXPECT_NE(std::string(error.what()).find("timed out"), std::string::npos) << error.what();
}

TEST_F(PullTest, TransientServerErrorsAreRetried) {
  hub_.fail_next_api_calls(2, 503);
  const PullResult result = hub::pull(kRepo, options());
  expect_same_files(source(), result.dir);

  hub_.fail_next_api_calls(5, 503);
  PullOptions opts = options();
  opts.dir = scratch_.path() / "other";
  const Error error = pull_error(kRepo, opts);
  EXPECT_EQ(error.kind(), ErrorKind::Network);
  EXPECT_NE(std::string(error.what()).find("503"), std::string::npos) << error.what();
}

TEST_F(PullTest, IncludeAndExcludeSelectFiles) {
  PullOptions opts = options();
  opts.include = {"*.json"};
  opts.exclude = {"tokenizer.json"};
  const PullResult result = hub::pull(kRepo, opts);
  std::set<std::string> paths;
  for (const hub::PulledFile& file : result.files) paths.insert(file.path);
  EXPECT_EQ(paths, (std::set<std::string>{"config.json", "modules.json", "1_Pooling/config.json"}));
  EXPECT_FALSE(fs::exists(result.dir / "model.safetensors"));

  opts.include = {"*.bin"};
  opts.exclude.clear();
  EXPECT_THROW(hub::pull(kRepo, opts), Error);
}

TEST_F(PullTest, NewCommitUpdatesChangedFilesAndRemovesDeletedOnes) {
  hub::pull(kRepo, options());
  // Upstream: the weights change, the tokenizer disappears, a file is added.
  write_bytes(source() / "model.safetensors", random_bytes(3u << 20, 99));
  fs::remove(source() / "tokenizer.json");
  write_bytes(source() / "README.md", "# tiny\n");
  hub_.add_repo(kRepo, source(), kCommit2);
  hub_.clear_requests();

  const PullResult result = hub::pull(kRepo, options());
  EXPECT_EQ(result.commit, kCommit2);
  expect_same_files(source(), result.dir);
  EXPECT_FALSE(fs::exists(result.dir / "tokenizer.json"));
  EXPECT_EQ(result.removed, std::vector<std::string>{"tokenizer.json"});
  EXPECT_EQ(count_requests("hub", "/resolve/" + std::string(kCommit2) + "/config.json"), 0u)
      << "unchanged files must not be fetched again";
  EXPECT_EQ(read_json_file(result.dir / hub::kManifestName)["commit"], kCommit2);
}

TEST_F(PullTest, RevisionsLiveSideBySide) {
  PullOptions pinned = options();
  pinned.revision = kCommit;
  const PullResult at_commit = hub::pull(kRepo, pinned);
  EXPECT_EQ(at_commit.dir, scratch_.path() / "cache" / "test-org" / "tiny" / kCommit);
  EXPECT_EQ(hub::resolve_model(std::string(kRepo) + "@" + kCommit), at_commit.dir);
  // main was never pulled: the message points at the revision that is there.
  try {
    hub::resolve_model(kRepo);
    FAIL() << "resolve_model found a revision that was never pulled";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(std::string(kRepo) + "@" + kCommit), std::string::npos) << e.what();
  }
}

TEST_F(PullTest, ConcurrentPullIntoTheSameDirectoryIsRefused) {
  fs::create_directories(cache_model_dir());
  hub::DirectoryLock held(cache_model_dir());
  const Error error = pull_error(kRepo, options());
  EXPECT_EQ(error.kind(), ErrorKind::Io);
  EXPECT_NE(std::string(error.what()).find("another memembed pull"), std::string::npos) << error.what();
}

TEST_F(PullTest, EndpointFromEnvironment) {
  ScopedEnv endpoint("HF_ENDPOINT", hub_.endpoint() + "/");
  PullOptions opts = options();
  opts.endpoint.clear();
  const PullResult result = hub::pull(kRepo, opts);
  expect_same_files(source(), result.dir);
}

TEST_F(PullTest, MalformedRepoIdIsInvalidInput) {
  try {
    hub::pull("../etc", options());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find("ORG/NAME"), std::string::npos);
  }
}

}  // namespace
}  // namespace memembed::test
