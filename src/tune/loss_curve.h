// The training log (log.jsonl: one {"step", "loss", ...} per optimiser step) drawn as an SVG line
// chart: raw loss and its moving average against the step.
#pragma once

#include <filesystem>

namespace memembed::tune {

void write_loss_curve(const std::filesystem::path& log, const std::filesystem::path& svg);

}  // namespace memembed::tune
