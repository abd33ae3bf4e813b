// Every route of `memembed serve` through a real HTTP client against a running server process, on
// both backends: status codes, JSON errors, agent isolation, shared knowledge, admin, metrics.
#include "serve_test_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>

namespace memembed::testing {
namespace {

namespace fs = std::filesystem;

// The status line of `request` sent as it is, over a fresh connection (a client library adds
// headers of its own, e.g. Content-Length: 0, that `curl -X POST URL` does not send).
std::string raw_status_line(int port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string reply;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0 &&
      ::send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size())) {
    char buffer[512];
    for (ssize_t n; reply.find("\r\n") == std::string::npos && (n = ::recv(fd, buffer, sizeof buffer, 0)) > 0;) {
      reply.append(buffer, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return reply.substr(0, reply.find("\r\n"));
}

class ServeHttpTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    MEMEMBED_REQUIRE_SHARED(fixture_dir("bert-tiny"));
  }

  // Starts a server with bert-tiny (unless `with_model` is false) and `extra` arguments.
  Http& start(std::vector<std::string> extra = {}, bool with_model = true) {
    std::vector<std::string> arguments = store_arguments(GetParam(), dir_.path());
    if (with_model) arguments.insert(arguments.end(), {"--model", bert_tiny()});
    arguments.insert(arguments.end(), extra.begin(), extra.end());
    server_ = std::make_unique<ServeProcess>(arguments, dir_ / "serve.log");
    EXPECT_TRUE(server_->wait_ready()) << server_->log();
    http_ = std::make_unique<Http>(server_->port());
    return *http_;
  }

  fs::path write_file(const std::string& name, const std::string& content) {
    const fs::path path = dir_ / name;
    std::ofstream(path) << content;
    return path;
  }

  std::string store(Http& http, const std::string& agent, const std::string& content,
                    const std::string& category = "SEMANTIC") {
    const Reply reply = http.post("/memories", {{"agent_id", agent}, {"category", category}, {"content", content}});
    EXPECT_EQ(reply.status, 201) << reply.text;
    return reply.body.value("id", "");
  }

  TempDir dir_;
  std::unique_ptr<ServeProcess> server_;
  std::unique_ptr<Http> http_;
};

TEST_P(ServeHttpTest, OperationsRoutesAndUnknownPaths) {
  Http& http = start();
  EXPECT_EQ(http.get("/health").body["status"], "ok");
  EXPECT_EQ(http.get("/ready").body["status"], "ready");
  store(http, "a", "The deploy script lives in tools/deploy.sh");

  const Reply metrics = http.get("/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.text.find("memembed_http_requests_total{route=\"/memories\",method=\"POST\",status=\"201\"} 1"),
            std::string::npos)
      << metrics.text;
  EXPECT_NE(metrics.text.find("memembed_http_request_duration_seconds_bucket{route=\"/memories\",le=\"+Inf\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics.text.find("memembed_memories 1"), std::string::npos);
  EXPECT_NE(metrics.text.find("memembed_encoder_batch_texts_count"), std::string::npos);
  EXPECT_NE(metrics.text.find("memembed_reindex_running 0"), std::string::npos);

  const Reply missing = http.get("/no/such/route");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(error_code(missing), "not_found");

  // The request log is structured and carries neither contents nor query strings.
  const std::string log = server_->log();
  EXPECT_NE(log.find("\"event\":\"request\""), std::string::npos);
  EXPECT_NE(log.find("\"route\":\"/memories\""), std::string::npos);
  EXPECT_EQ(log.find("deploy.sh"), std::string::npos);
}

TEST_P(ServeHttpTest, MemoryLifecycleThroughEveryRoute) {
  Http& http = start();
  const std::string id = store(http, "agent-a", "Alice prefers green tea in the morning", "SOCIAL");
  store(http, "agent-a", "The build uses CMake and Ninja", "PROCEDURAL");

  Reply got = http.get("/memories/" + id + "?agent_id=agent-a");
  ASSERT_EQ(got.status, 200) << got.text;
  EXPECT_EQ(got.body["content"], "Alice prefers green tea in the morning");
  EXPECT_EQ(got.body["category"], "SOCIAL");
  EXPECT_EQ(got.body["namespace"], "default");

  Reply found = http.post("/memories/search", {{"agent_id", "agent-a"}, {"text", "Alice green tea morning"}, {"limit", 5}});
  ASSERT_EQ(found.status, 200) << found.text;
  ASSERT_FALSE(found.body["results"].empty());
  EXPECT_EQ(found.body["results"][0]["id"], id);
  for (const char* field : {"id", "content", "category", "namespace", "score", "created_at", "metadata"}) {
    EXPECT_TRUE(found.body["results"][0].contains(field)) << field;
  }
  Reply filtered = http.post("/memories/search", {{"agent_id", "agent-a"}, {"categories", {"PROCEDURAL"}}});
  ASSERT_EQ(filtered.body["results"].size(), 1u);
  EXPECT_EQ(filtered.body["results"][0]["category"], "PROCEDURAL");

  EXPECT_EQ(http.get("/memories/count?agent_id=agent-a").body["count"], 2);
  EXPECT_EQ(http.get("/memories/count?agent_id=agent-a&category=SOCIAL").body["count"], 1);

  Reply patched = http.patch("/memories/" + id, {{"agent_id", "agent-a"},
                                                  {"content", "Alice switched to coffee"},
                                                  {"metadata", {{"source", "user"}, {"confidence", 0.9}, {"tags", {"drinks"}}}}});
  ASSERT_EQ(patched.status, 200) << patched.text;
  EXPECT_EQ(patched.body["content"], "Alice switched to coffee");
  EXPECT_EQ(patched.body["metadata"]["tags"][0], "drinks");
  Reply by_tag = http.post("/memories/search", {{"agent_id", "agent-a"}, {"text", "coffee"}, {"tags", {"drinks"}}});
  ASSERT_EQ(by_tag.body["results"].size(), 1u);
  EXPECT_EQ(by_tag.body["results"][0]["content"], "Alice switched to coffee");

  EXPECT_EQ(http.del("/memories/" + id + "?agent_id=agent-a").status, 204);
  EXPECT_EQ(http.get("/memories/" + id + "?agent_id=agent-a").status, 404);
  EXPECT_EQ(http.del("/memories/" + id + "?agent_id=agent-a").status, 404);
  EXPECT_EQ(http.get("/memories/count?agent_id=agent-a").body["count"], 1);
}

TEST_P(ServeHttpTest, BadInputGetsTheRightStatusAndAJsonError) {
  Http& http = start({"--max-body-bytes", "65536"});
  const auto expect = [&](const Reply& reply, int status, const std::string& code, const std::string& mentions) {
    EXPECT_EQ(reply.status, status) << reply.text;
    EXPECT_EQ(error_code(reply), code) << reply.text;
    EXPECT_NE(reply.body["error"].value("message", "").find(mentions), std::string::npos) << reply.text;
  };
  expect(http.post_raw("/memories", "{not json"), 400, "invalid_json", "not valid JSON");
  expect(http.post_raw("/memories", "[1, 2]"), 400, "invalid_json", "JSON object");
  expect(http.post("/memories", {{"agent_id", "a"}, {"category", "SEMANTIC"}, {"content", "x"}, {"colour", "red"}}), 400,
         "unknown_field", "colour");
  expect(http.post("/memories", {{"agent_id", "a"}, {"category", "DREAMS"}, {"content", "x"}}), 400, "invalid_request",
         "DREAMS");
  expect(http.post("/memories", {{"agent_id", "a"}, {"category", "WORKING"}, {"content", "x"}}), 400, "invalid_request",
         "WORKING");
  expect(http.post("/memories", {{"category", "SEMANTIC"}, {"content", "x"}}), 400, "invalid_request", "agent_id");
  expect(http.post("/memories", {{"agent_id", "a"}, {"category", "SEMANTIC"}, {"content", ""}}), 400, "invalid_request",
         "content");
  expect(http.post("/memories", {{"agent_id", "a"}, {"category", "SEMANTIC"}, {"content", "x"}, {"expires_at", "soon"}}),
         400, "invalid_request", "expires_at");
  expect(http.post("/memories", {{"agent_id", "a"}, {"category", "SEMANTIC"}, {"content", "x"},
                                 {"metadata", {{"confidence", 1.5}}}}),
         400, "invalid_request", "confidence");
  expect(http.post("/memories/search", {{"agent_id", "a"}, {"limit", 0}}), 400, "invalid_request", "limit");
  expect(http.post("/memories/search", {{"agent_id", "a"}, {"limit", 5000}}), 400, "invalid_request", "limit");
  expect(http.post("/memories/search", {{"agent_id", "a"}, {"since", "yesterday"}}), 400, "invalid_request", "since");
  expect(http.get("/memories/doesnotexist?agent_id=a"), 404, "not_found", "doesnotexist");
  expect(http.patch("/memories/doesnotexist", {{"agent_id", "a"}, {"content", "y"}}), 404, "not_found", "doesnotexist");
  expect(http.get("/memories/count?agent_id=a&category=NOPE"), 400, "invalid_request", "NOPE");
  expect(http.post_raw("/memories", std::string(70000, ' ')), 413, "payload_too_large", "65536");
  // The server still answers after all of that, and nothing was stored.
  EXPECT_EQ(http.get("/memories/count?agent_id=a").body["count"], 0);
}

TEST_P(ServeHttpTest, SharedKnowledgeIsExplicit) {
  Http& http = start();
  const std::string fact = store(http, "alice", "The staging database is backed up nightly at 02:00");
  store(http, "alice", "My private note about the staging database");

  Reply before = http.post("/shared/search", {{"text", "staging database backup"}});
  ASSERT_EQ(before.status, 200) << before.text;
  EXPECT_TRUE(before.body["results"].empty());

  EXPECT_EQ(http.post("/shared/publish", {{"agent_id", "bob"}, {"memory_id", fact}}).status, 404);  // not bob's
  ASSERT_EQ(http.post("/shared/publish", {{"agent_id", "alice"}, {"memory_id", fact}}).status, 200);
  Reply shared = http.post("/shared/search", {{"agent_id", "bob"}, {"text", "staging database backup"}});
  ASSERT_EQ(shared.body["results"].size(), 1u) << shared.text;
  EXPECT_EQ(shared.body["results"][0]["id"], fact);
  EXPECT_EQ(shared.body["results"][0]["agent_id"], "alice");
  EXPECT_TRUE(http.post("/shared/search", {{"text", "staging database"}, {"exclude_agent", "alice"}}).body["results"].empty());

  EXPECT_EQ(http.del("/shared/" + fact + "?agent_id=bob").status, 404);
  EXPECT_EQ(http.del("/shared/" + fact + "?agent_id=alice").status, 204);
  EXPECT_TRUE(http.post("/shared/search", {{"text", "staging database backup"}}).body["results"].empty());
  // Publishing never handed bob the memory itself.
  EXPECT_EQ(http.get("/memories/" + fact + "?agent_id=bob").status, 404);
}

TEST_P(ServeHttpTest, WithApiKeysAnAgentReachesOnlyItsOwnMemoriesThroughEveryRoute) {
  const fs::path keys = write_file("keys.txt", "# agent key\nalice alice-key-0123456789abcdef\nbob bob-key-0123456789abcdef0\n");
  Http& http = start({"--api-keys-file", keys.string()});

  EXPECT_EQ(http.post("/memories", {{"category", "SEMANTIC"}, {"content", "x"}}).status, 401);  // no key
  http.bearer("wrong-key-0123456789abcdef");
  EXPECT_EQ(error_code(http.post("/memories/search", {{"text", "x"}})), "unauthorized");
  EXPECT_EQ(http.post("/v1/embeddings", {{"input", "x"}}).status, 401);

  http.bearer("alice-key-0123456789abcdef");
  // agent_id may be left out: the key's agent acts.
  Reply stored = http.post("/memories", {{"category", "EPISODIC"}, {"content", "Alice's secret plan for the launch"}});
  ASSERT_EQ(stored.status, 201) << stored.text;
  const std::string id = stored.body["id"];
  EXPECT_EQ(http.get("/memories/" + id).status, 200);
  EXPECT_EQ(http.get("/memories/count").body["count"], 1);

  http.bearer("bob-key-0123456789abcdef0");
  // Bob naming alice: 403 on every route.
  EXPECT_EQ(http.post("/memories", {{"agent_id", "alice"}, {"category", "EPISODIC"}, {"content", "forged"}}).status, 403);
  EXPECT_EQ(http.post("/memories/search", {{"agent_id", "alice"}, {"text", "secret plan"}}).status, 403);
  EXPECT_EQ(http.get("/memories/" + id + "?agent_id=alice").status, 403);
  EXPECT_EQ(http.patch("/memories/" + id, {{"agent_id", "alice"}, {"content", "overwritten"}}).status, 403);
  EXPECT_EQ(http.del("/memories/" + id + "?agent_id=alice").status, 403);
  EXPECT_EQ(http.get("/memories/count?agent_id=alice").status, 403);
  EXPECT_EQ(http.post("/shared/publish", {{"agent_id", "alice"}, {"memory_id", id}}).status, 403);
  EXPECT_EQ(http.del("/shared/" + id + "?agent_id=alice").status, 403);
  // Bob as himself: alice's memory does not exist for him.
  EXPECT_EQ(http.get("/memories/" + id).status, 404);
  EXPECT_EQ(http.patch("/memories/" + id, {{"content", "overwritten"}}).status, 404);
  EXPECT_EQ(http.del("/memories/" + id).status, 404);
  EXPECT_EQ(http.post("/shared/publish", {{"memory_id", id}}).status, 404);
  EXPECT_EQ(http.del("/shared/" + id).status, 404);
  EXPECT_EQ(http.get("/memories/count").body["count"], 0);
  EXPECT_TRUE(http.post("/memories/search", {{"text", "secret plan launch"}}).body["results"].empty());
  EXPECT_TRUE(http.post("/shared/search", {{"text", "secret plan launch"}}).body["results"].empty());

  // Alice's memory came through all of it unchanged.
  http.bearer("alice-key-0123456789abcdef");
  Reply after = http.get("/memories/" + id);
  EXPECT_EQ(after.body["content"], "Alice's secret plan for the launch");
  EXPECT_EQ(http.get("/memories/count").body["count"], 1);
  // The log names the acting agent but never a key.
  EXPECT_EQ(server_->log().find("key-0123456789"), std::string::npos);
}

TEST_P(ServeHttpTest, WithoutApiKeysAgentsAreStillIsolatedByTheirIds) {
  Http& http = start();
  const std::string id = store(http, "alice", "Alice's note");
  EXPECT_EQ(http.get("/memories/" + id + "?agent_id=bob").status, 404);
  EXPECT_EQ(http.patch("/memories/" + id, {{"agent_id", "bob"}, {"content", "changed"}}).status, 404);
  EXPECT_EQ(http.del("/memories/" + id + "?agent_id=bob").status, 404);
  EXPECT_EQ(http.get("/memories/count?agent_id=bob").body["count"], 0);
  EXPECT_TRUE(http.post("/memories/search", {{"agent_id", "bob"}, {"text", "Alice note"}}).body["results"].empty());
  EXPECT_EQ(http.get("/memories/" + id + "?agent_id=alice").body["content"], "Alice's note");
  EXPECT_NE(server_->log().find("no_api_keys"), std::string::npos);
}

TEST_P(ServeHttpTest, AdminApiNeedsItsTokenAndReindexSwitchesTheModel) {
  MEMEMBED_REQUIRE_SHARED(fixture_dir("bert-tiny-cls"));
  {
    Http& plain = start();
    EXPECT_EQ(plain.get("/admin/memory/embedder").status, 404);  // no token file: no admin API
    server_->signal(SIGTERM);
    EXPECT_EQ(server_->wait_exit(), 0);
  }
  const fs::path token = write_file("admin.token", "admin-token-0123456789abcdef\n");
  Http& http = start({"--admin-token-file", token.string()});
  EXPECT_EQ(http.get("/admin/memory/embedder").status, 401);
  http.bearer("admin-token-0123456789abcdeX");
  EXPECT_EQ(http.get("/admin/memory/embedder").status, 401);
  http.bearer("admin-token-0123456789abcdef");
  Reply embedder = http.get("/admin/memory/embedder");
  ASSERT_EQ(embedder.status, 200) << embedder.text;
  EXPECT_EQ(embedder.body["dims"], 32);
  EXPECT_FALSE(embedder.body["fingerprint"].get<std::string>().empty());
  EXPECT_EQ(embedder.body["fine_tune"]["enabled"], false);
  const std::string old_fingerprint = embedder.body["fingerprint"];

  for (int i = 0; i < 20; ++i) store(http, "a", "memory number " + std::to_string(i) + " about gardening");
  EXPECT_EQ(http.post("/admin/memory/reindex", Json::object()).status, 400);
  Reply started = http.post("/admin/memory/reindex", {{"model", fixture_dir("bert-tiny-cls").string()}});
  ASSERT_EQ(started.status, 202) << started.text;
  const Reply progress = wait_for_reindex(http);
  ASSERT_EQ(progress.body["state"], "completed") << progress.text;
  EXPECT_EQ(progress.body["switched"], true);
  EXPECT_EQ(progress.body["done"], 20);
  EXPECT_EQ(progress.body["total"], 20);
  Reply switched = http.get("/admin/memory/embedder");
  EXPECT_NE(switched.body["fingerprint"], old_fingerprint);
  Reply found = http.post("/memories/search", {{"agent_id", "a"}, {"text", "gardening"}, {"limit", 50}});
  EXPECT_EQ(found.body["results"].size(), 20u) << found.text;

  // A POST with no body and no Content-Length (`curl -X POST URL`) reaches its route.
  EXPECT_EQ(raw_status_line(server_->port(), "POST /admin/memory/fine-tune/cancel HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                             "Authorization: Bearer admin-token-0123456789abcdef\r\n\r\n"),
            "HTTP/1.1 501 Not Implemented");  // fine-tuning is off on this server
}

TEST_P(ServeHttpTest, WithoutAModelSearchIsBm25AndEmbeddingsAreUnavailable) {
  Http& http = start({}, false);
  EXPECT_NE(server_->log().find("BM25"), std::string::npos);
  store(http, "a", "Rotate the API credentials every ninety days");
  store(http, "a", "Lunch was pasta");
  Reply found = http.post("/memories/search", {{"agent_id", "a"}, {"text", "credentials rotation"}});
  ASSERT_EQ(found.body["results"].size(), 1u) << found.text;
  EXPECT_EQ(found.body["results"][0]["content"], "Rotate the API credentials every ninety days");
  EXPECT_EQ(error_code(http.post("/v1/embeddings", {{"input", "x"}, {"model", "m"}})), "model_not_found");
}

INSTANTIATE_TEST_SUITE_P(Backends, ServeHttpTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace memembed::testing
