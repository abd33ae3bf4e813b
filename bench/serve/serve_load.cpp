// serve_load: a bounded load test of a running `memembed serve` on this machine.
//
// --clients keep-alive connections (one thread each) send a mix of POST /memories/search and
// POST /memories for --duration seconds (or --requests each), then the tool prints errors,
// throughput and p50/p99 latency per operation, and the server's RSS (--server-pid). --populate N
// first stores N memories spread over --agents agents. --recent searches without text (metadata
// only), which separates the server's own cost from ranking's. --export-jsonl FILE writes the
// --populate memories as a `memembed memory import` file instead (a large store without HTTP).
// Loopback addresses only; every loop is bounded in count and time.
#include "memembed/embed.h"
#include "memembed/json_io.h"

#include <CLI/CLI.hpp>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using memembed::Json;

struct Options {
  std::string host = "127.0.0.1";
  int port = 8420;
  size_t clients = 200;
  double duration = 60;
  size_t requests = 1000000;  // per client, a bound besides the duration
  double store_fraction = 0.2;
  size_t agents = 10;
  size_t populate = 0;
  size_t populate_clients = 8;
  int server_pid = 0;
  double rss_every = 10;  // seconds between RSS samples during the load (with --server-pid)
  bool recent = false;    // searches without text: metadata only (newest first), no model, no BM25
  std::string token;
  std::string export_jsonl;
};

struct Samples {
  std::vector<double> search_ms, store_ms;
  std::map<std::string, size_t> errors;  // "search 503", "store no response", ...
};

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t index = std::min(values.size() - 1, static_cast<size_t>(p * static_cast<double>(values.size())));
  return values[index];
}

std::string rss_of(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line, out;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0 || line.rfind("VmHWM:", 0) == 0) out += line + "  ";
  }
  return out.empty() ? "(no such process)" : out;
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

Json store_body(const std::string& agent, const std::string& text, std::mt19937_64& rng) {
  static const char* categories[] = {"EPISODIC", "PROCEDURAL", "SEMANTIC", "SOCIAL"};
  return {{"agent_id", agent}, {"category", categories[rng() % 4]}, {"content", text}};
}

Json search_body(const Options& options, const std::string& agent, const std::string& text) {
  if (options.recent) return {{"agent_id", agent}, {"limit", 10}};
  return {{"agent_id", agent}, {"text", text}, {"limit", 10}};
}

void populate(const Options& options, const std::vector<std::string>& texts) {
  std::atomic<size_t> next{0}, failed{0};
  const auto started = Clock::now();
  std::vector<std::thread> threads;
  for (size_t c = 0; c < options.populate_clients; ++c) {
    threads.emplace_back([&, c] {
      httplib::Client client(options.host, options.port);
      client.set_keep_alive(true);
      if (!options.token.empty()) client.set_bearer_token_auth(options.token.c_str());
      std::mt19937_64 rng(c);
      for (size_t i = next++; i < options.populate; i = next++) {
        const std::string agent = "agent-" + std::to_string(i % options.agents);
        auto response = client.Post("/memories", store_body(agent, texts[i % texts.size()], rng).dump(), "application/json");
        if (!response || response->status != 201) ++failed;
        if (i % 5000 == 0 && i > 0) {
          const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
          std::fprintf(stderr, "populate: %zu/%zu (%.0f/s)\n", i, options.populate, static_cast<double>(i) / seconds);
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::printf("populate: %zu memories in %.1f s (%.0f/s), %zu failed\n", options.populate, seconds,
              static_cast<double>(options.populate) / seconds, failed.load());
}

// The memories --populate would store, as import records (created a second apart, oldest first).
void export_jsonl(const Options& options, const std::vector<std::string>& texts) {
  std::ofstream out(options.export_jsonl);
  std::mt19937_64 rng(0);
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
  for (size_t i = 0; i < options.populate; ++i) {
    Json record = store_body("agent-" + std::to_string(i % options.agents), texts[i % texts.size()], rng);
    char id[32], created[32];
    std::snprintf(id, sizeof id, "load-%08zu", i);
    const std::time_t at = static_cast<std::time_t>(now.count() - static_cast<int64_t>(options.populate - i));
    std::strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&at));
    record["id"] = id;
    record["created_at"] = created;
    out << record.dump() << '\n';
  }
  if (!out) {
    std::fprintf(stderr, "serve_load: cannot write %s\n", options.export_jsonl.c_str());
    std::exit(1);
  }
  std::printf("wrote %zu memories to %s\n", options.populate, options.export_jsonl.c_str());
}

void run_load(const Options& options, const std::vector<std::string>& texts) {
  std::vector<Samples> per_client(options.clients);
  std::atomic<bool> go{false};
  const auto deadline_after = std::chrono::duration<double>(options.duration);
  std::vector<std::thread> threads;
  for (size_t c = 0; c < options.clients; ++c) {
    threads.emplace_back([&, c] {
      Samples& samples = per_client[c];
      httplib::Client client(options.host, options.port);
      client.set_keep_alive(true);
      client.set_read_timeout(60, 0);
      if (!options.token.empty()) client.set_bearer_token_auth(options.token.c_str());
      std::mt19937_64 rng(1000 + c);
      std::uniform_real_distribution<double> coin(0, 1);
      while (!go) std::this_thread::yield();
      const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(deadline_after);
      for (size_t i = 0; i < options.requests && Clock::now() < deadline; ++i) {
        const std::string agent = "agent-" + std::to_string(rng() % options.agents);
        const std::string& text = texts[rng() % texts.size()];
        const bool store = coin(rng) < options.store_fraction;
        const auto started = Clock::now();
        httplib::Result response =
            store ? client.Post("/memories", store_body(agent, text, rng).dump(), "application/json")
                  : client.Post("/memories/search", search_body(options, agent, text).dump(), "application/json");
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
        const int expected = store ? 201 : 200;
        if (!response) {
          ++samples.errors[std::string(store ? "store" : "search") + " no response (" + httplib::to_string(response.error()) + ")"];
        } else if (response->status != expected) {
          ++samples.errors[std::string(store ? "store " : "search ") + std::to_string(response->status)];
        } else {
          (store ? samples.store_ms : samples.search_ms).push_back(ms);
        }
      }
    });
  }
  // The server's RSS every --rss-every seconds: a plateau is an allocator's pool, steady growth a leak.
  std::atomic<bool> finished{false};
  std::thread rss_sampler([&] {
    if (!options.server_pid) return;
    const auto begin = Clock::now();
    auto next = begin;
    while (!finished) {
      if (Clock::now() >= next) {
        const double at = std::chrono::duration<double>(Clock::now() - begin).count();
        std::printf("  rss at %5.1f s: %s\n", at, rss_of(options.server_pid).c_str());
        std::fflush(stdout);
        next += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.rss_every));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  const auto started = Clock::now();
  go = true;
  for (auto& thread : threads) thread.join();
  finished = true;
  rss_sampler.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();

  Samples all;
  for (const Samples& s : per_client) {
    all.search_ms.insert(all.search_ms.end(), s.search_ms.begin(), s.search_ms.end());
    all.store_ms.insert(all.store_ms.end(), s.store_ms.begin(), s.store_ms.end());
    for (const auto& [what, count] : s.errors) all.errors[what] += count;
  }
  size_t errors = 0;
  for (const auto& [what, count] : all.errors) errors += count;
  const size_t ok = all.search_ms.size() + all.store_ms.size();
  std::printf("load: %zu clients, %.1f s, %zu requests ok (%.0f/s), %zu errors\n", options.clients, seconds, ok,
              static_cast<double>(ok) / seconds, errors);
  for (const auto& [what, count] : all.errors) std::printf("  error: %s x%zu\n", what.c_str(), count);
  std::printf("  search: n=%zu p50=%.2f ms p99=%.2f ms max=%.2f ms\n", all.search_ms.size(),
              percentile(all.search_ms, 0.5), percentile(all.search_ms, 0.99), percentile(all.search_ms, 1.0));
  std::printf("  store:  n=%zu p50=%.2f ms p99=%.2f ms max=%.2f ms\n", all.store_ms.size(), percentile(all.store_ms, 0.5),
              percentile(all.store_ms, 0.99), percentile(all.store_ms, 1.0));
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  std::string token_file;
  CLI::App app{"serve_load: bounded load test of a running memembed serve (loopback only)"};
  app.add_option("--host", options.host)->capture_default_str();
  app.add_option("--port", options.port)->capture_default_str();
  app.add_option("--clients", options.clients, "Concurrent keep-alive clients")->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--duration", options.duration, "Seconds of load")->capture_default_str()->check(CLI::Range(0.1, 600.0));
  app.add_option("--requests", options.requests, "Most requests per client")->capture_default_str();
  app.add_option("--store-fraction", options.store_fraction, "Share of requests that store")->capture_default_str();
  app.add_option("--agents", options.agents, "Agents the memories are spread over")->capture_default_str();
  app.add_option("--populate", options.populate, "Memories to store before the load")->check(CLI::Range(0, 1000000));
  app.add_option("--populate-clients", options.populate_clients)->capture_default_str();
  app.add_option("--server-pid", options.server_pid, "Report this process's RSS");
  app.add_option("--token-file", token_file, "API key to send as Bearer");
  app.add_option("--rss-every", options.rss_every, "Seconds between RSS samples (with --server-pid)")->capture_default_str();
  app.add_option("--export-jsonl", options.export_jsonl, "With --populate: write the memories to this import file and exit");
  app.add_flag("--recent", options.recent, "Searches without text (metadata only): the server's own cost, no ranking");
  CLI11_PARSE(app, argc, argv);
  if (!is_loopback(options.host)) {
    std::fprintf(stderr, "serve_load: --host must be a loopback address\n");
    return 2;
  }
  if (!token_file.empty()) {
    options.token = memembed::read_file(token_file);
    while (!options.token.empty() && std::isspace(static_cast<unsigned char>(options.token.back()))) options.token.pop_back();
  }
  const std::vector<std::string> texts = memembed::embed::synthetic_workload(20000, 42);
  if (!options.export_jsonl.empty()) {
    export_jsonl(options, texts);
    return 0;
  }
  if (options.populate > 0) populate(options, texts);
  if (options.server_pid) std::printf("server before load: %s\n", rss_of(options.server_pid).c_str());
  run_load(options, texts);
  if (options.server_pid) std::printf("server after load: %s\n", rss_of(options.server_pid).c_str());
  return 0;
}
