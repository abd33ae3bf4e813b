// Progress for long jobs on stderr: items done, rate and ETA, redrawn at most a few times a second.
// Silent when stderr is not a terminal unless forced, so logs stay readable.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace memembed {

class Progress {
 public:
  // total = 0 means unknown (no ETA is shown).
  Progress(std::string label, size_t total, std::string unit = "items");
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void advance(size_t count = 1);
  void finish();  // prints the final line (count, elapsed, rate)
  // Extra text at the end of the line (e.g. the current loss), shown from the next redraw on.
  void set_detail(std::string detail) { detail_ = std::move(detail); }

  // Global switch set by the CLI (--quiet / --progress).
  static void set_enabled(bool enabled);
  static bool enabled();

 private:
  void draw(bool final_line);

  std::string label_;
  std::string unit_;
  std::string detail_;
  size_t total_;
  size_t done_ = 0;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace memembed
