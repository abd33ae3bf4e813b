// Resource estimates that need the whole registry (latency scales from other models' benches).
#pragma once

#include "memembed/select.h"

#include <optional>

namespace memembed::select {

// Per-query latency on `device`: this model's own bench when it has one, otherwise the bench of the
// benchmarked model closest in size, scaled by parameter count. nullopt without any usable bench.
std::optional<LatencyEstimate> estimate_latency(const Registry& registry, const ModelInfo& model,
                                                Device device);

}  // namespace memembed::select
