#include "memembed/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>

namespace memembed {

namespace {
std::atomic<int> g_enabled{-1};  // -1: decide from isatty(stderr)

std::string format_duration(double seconds) {
  if (seconds < 0 || seconds > 1e7) return "?";
  const auto total = static_cast<long>(seconds + 0.5);
  if (total >= 3600) return fmt::format("{}h{:02}m", total / 3600, (total % 3600) / 60);
  if (total >= 60) return fmt::format("{}m{:02}s", total / 60, total % 60);
  return fmt::format("{}s", total);
}
}  // namespace

void Progress::set_enabled(bool enabled) { g_enabled = enabled ? 1 : 0; }

bool Progress::enabled() {
  int value = g_enabled.load();
  if (value < 0) value = isatty(STDERR_FILENO) ? 1 : 0;
  return value == 1;
}

Progress::Progress(std::string label, size_t total, std::string unit)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

Progress::~Progress() {
  if (!finished_ && done_ > 0) finish();
}

void Progress::advance(size_t count) {
  done_ += count;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ >= std::chrono::milliseconds(250)) {
    last_draw_ = now;
    draw(false);
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  draw(true);
}

void Progress::draw(bool final_line) {
  if (!enabled()) return;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0.0;
  std::string line;
  if (total_ > 0) {
    const double fraction = static_cast<double>(done_) / static_cast<double>(total_);
    const double eta = rate > 0 ? static_cast<double>(total_ - std::min(done_, total_)) / rate : -1;
    line = fmt::format("{}: {}/{} {} ({:.0f}%), {:.1f} {}/s, {} {}", label_, done_, total_, unit_,
                       100.0 * fraction, rate, unit_, final_line ? "elapsed" : "ETA",
                       format_duration(final_line ? elapsed : eta));
  } else {
    line = fmt::format("{}: {} {}, {:.1f} {}/s, elapsed {}", label_, done_, unit_, rate, unit_,
                       format_duration(elapsed));
  }
  if (!detail_.empty()) line += ", " + detail_;
  std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), final_line ? "\n" : "");
  std::fflush(stderr);
}

}  // namespace memembed
