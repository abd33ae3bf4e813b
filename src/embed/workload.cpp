#include "memembed/embed.h"

#include <array>

namespace memembed::embed {

namespace {

// SplitMix64: fully specified, so the workload is identical on every platform and library.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  size_t below(size_t bound) { return static_cast<size_t>(next() % bound); }
  size_t between(size_t low, size_t high) { return low + below(high - low + 1); }

 private:
  uint64_t state_;
};

constexpr std::array<const char*, 160> kWords = {
    "the", "agent", "user", "meeting", "project", "deadline", "asked", "about", "report", "yesterday",
    "tomorrow", "team", "decided", "to", "move", "database", "migration", "next", "week", "because",
    "server", "was", "slow", "and", "customer", "called", "twice", "with", "questions", "regarding",
    "invoice", "number", "paid", "on", "March", "fourth", "she", "prefers", "email", "over",
    "phone", "calls", "he", "mentioned", "his", "daughter", "starts", "school", "in", "September",
    "procedure", "first", "open", "settings", "then", "select", "account", "click", "save", "restart",
    "the", "service", "if", "error", "persists", "check", "logs", "for", "timeout", "messages",
    "Alice", "Bob", "Carol", "Dave", "Berlin", "Tokyo", "Paris", "Monday", "Friday", "budget",
    "approved", "rejected", "pending", "review", "of", "quarterly", "results", "shows", "growth", "revenue",
    "3.5%", "$1,200", "2026-11-28", "v2.1", "API", "endpoint", "returns", "JSON", "payload", "within",
    "200ms", "latency", "users", "reported", "bug", "login", "page", "after", "update", "fixed",
    "by", "rolling", "back", "change", "noted", "that", "memory", "retrieval", "works", "better",
    "when", "instructions", "are", "short", "remember", "favorite", "coffee", "is", "oat", "latte",
    "allergic", "peanuts", "birthday", "party", "planned", "Saturday", "evening", "at", "restaurant", "downtown",
    "flight", "delayed", "two", "hours", "hotel", "booking", "confirmed", "room", "upgrade", "requested",
    "contract", "renewal", "signed", "legal", "approved", "terms", "discount", "applied", "final", "offer",
};

constexpr const char* kPunctuation[] = {".", ",", "?", "!", ";", ":"};

}  // namespace

std::vector<std::string> synthetic_workload(size_t count, uint64_t seed) {
  SplitMix64 random(seed);
  std::vector<std::string> texts;
  texts.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const size_t bucket = random.below(4);
    const size_t words = bucket == 0 ? random.between(5, 15) : bucket == 3 ? random.between(61, 250) : random.between(16, 60);
    std::string text;
    for (size_t w = 0; w < words; ++w) {
      if (w > 0) text += ' ';
      text += kWords[random.below(kWords.size())];
      if (random.below(8) == 0) text += kPunctuation[random.below(std::size(kPunctuation))];
    }
    texts.push_back(std::move(text));
  }
  return texts;
}

}  // namespace memembed::embed
