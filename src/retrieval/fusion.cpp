#include "memembed/error.h"
#include "memembed/retrieval.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace memembed::retrieval {

namespace {

bool better(const Scored& a, const Scored& b) {
  if (a.score != b.score) return a.score > b.score;
  return a.key < b.key;
}

// Maps a side's raw scores onto the scale fusion adds up; `absent` goes through the same map.
struct Normaliser {
  double offset = 0.0;
  double scale = 0.0;  // 0: the side has no spread, every candidate counts the same
  double operator()(double score) const { return scale == 0.0 ? 0.0 : (score - offset) * scale; }
};

Normaliser normaliser(const Side& side, Fusion method) {
  Normaliser n;
  if (side.candidates.empty()) return n;
  if (method == Fusion::ZScore) {
    double sum = 0.0;
    for (const Scored& c : side.candidates) sum += c.score;
    const double mean = sum / static_cast<double>(side.candidates.size());
    double squares = 0.0;
    for (const Scored& c : side.candidates) squares += (c.score - mean) * (c.score - mean);
    const double deviation = std::sqrt(squares / static_cast<double>(side.candidates.size()));
    n.offset = mean;
    n.scale = deviation > 0.0 ? 1.0 / deviation : 0.0;
  } else {
    double low = side.absent, high = side.absent;
    for (const Scored& c : side.candidates) {
      low = std::min(low, c.score);
      high = std::max(high, c.score);
    }
    n.offset = low;
    n.scale = high > low ? 1.0 / (high - low) : 0.0;
  }
  return n;
}

}  // namespace

std::vector<Scored> top_k(const std::vector<Scored>& scores, size_t k) {
  std::vector<Scored> out = scores;
  const size_t keep = std::min(k, out.size());
  std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(keep), out.end(), better);
  out.resize(keep);
  return out;
}

std::vector<Scored> top_k(const float* scores, size_t count, size_t k) {
  std::vector<Scored> all(count);
  for (size_t i = 0; i < count; ++i) all[i] = {i, scores[i]};
  return top_k(all, k);
}

const char* to_string(Fusion fusion) {
  switch (fusion) {
    case Fusion::ZScore: return "zscore";
    case Fusion::MinMax: return "minmax";
    case Fusion::Rrf: return "rrf";
  }
  return "?";
}

Fusion parse_fusion(std::string_view name) {
  if (name == "zscore" || name == "z-score") return Fusion::ZScore;
  if (name == "minmax" || name == "min-max") return Fusion::MinMax;
  if (name == "rrf") return Fusion::Rrf;
  throw invalid_input("fusion '{}': expected zscore, minmax or rrf", name);
}

Side make_side(std::vector<Scored> candidates, size_t depth, std::optional<double> known_absent_score) {
  std::sort(candidates.begin(), candidates.end(), better);
  Side side;
  if (known_absent_score && candidates.size() < depth) side.absent = *known_absent_score;
  else if (!candidates.empty()) side.absent = candidates.back().score;
  side.candidates = std::move(candidates);
  return side;
}

std::vector<Scored> fuse(const Side& lexical, const Side& dense, const FusionOptions& options) {
  if (!(options.weight >= 0.0 && options.weight <= 1.0)) {
    throw invalid_input("fusion weight {}: expected a number in [0, 1]", options.weight);
  }
  double weight = options.weight;
  if (dense.candidates.empty()) weight = 0.0;
  if (lexical.candidates.empty()) weight = 1.0;

  // key -> (lexical part, dense part)
  std::unordered_map<size_t, std::pair<double, double>> parts;
  parts.reserve(lexical.candidates.size() + dense.candidates.size());
  if (options.method == Fusion::Rrf) {
    for (size_t r = 0; r < lexical.candidates.size(); ++r) {
      parts[lexical.candidates[r].key].first = 1.0 / (options.rrf_k + static_cast<double>(r + 1));
    }
    for (size_t r = 0; r < dense.candidates.size(); ++r) {
      parts[dense.candidates[r].key].second = 1.0 / (options.rrf_k + static_cast<double>(r + 1));
    }
  } else {
    const Normaliser lex = normaliser(lexical, options.method);
    const Normaliser den = normaliser(dense, options.method);
    const double lex_absent = lex(lexical.absent), den_absent = den(dense.absent);
    for (const Scored& c : lexical.candidates) parts.try_emplace(c.key, 0.0, den_absent).first->second.first = lex(c.score);
    for (const Scored& c : dense.candidates) parts.try_emplace(c.key, lex_absent, 0.0).first->second.second = den(c.score);
  }
  const double factor = options.method == Fusion::Rrf ? 2.0 : 1.0;
  std::vector<Scored> fused;
  fused.reserve(parts.size());
  for (const auto& [key, part] : parts) {
    fused.push_back({key, factor * ((1.0 - weight) * part.first + weight * part.second)});
  }
  std::sort(fused.begin(), fused.end(), better);
  return fused;
}

double fused_relevance(double fused, const FusionOptions& options) {
  switch (options.method) {
    case Fusion::ZScore: return 1.0 / (1.0 + std::exp(-fused));
    case Fusion::MinMax: return std::clamp(fused, 0.0, 1.0);
    case Fusion::Rrf: return std::clamp(fused * (options.rrf_k + 1.0) / 2.0, 0.0, 1.0);
  }
  return 0.0;
}

}  // namespace memembed::retrieval
