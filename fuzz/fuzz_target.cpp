#include "fuzz_target.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <stdexcept>

namespace memembed::fuzz {

namespace fs = std::filesystem;

std::map<std::string, TargetFunction>& targets() {
  static std::map<std::string, TargetFunction> registry;
  return registry;
}

bool verbose() {
  static const bool enabled = std::getenv("MEMEMBED_FUZZ_VERBOSE") != nullptr;
  return enabled;
}

fs::path shared_dir() {
  if (const char* env = std::getenv("MEMEMBED_SHARED_DIR")) return env;
  return MEMEMBED_SHARED_DIR;
}

namespace {

// Removed at exit; one per process so parallel fuzzing jobs do not share files.
class ScratchDir {
 public:
  ScratchDir() : path_(fs::temp_directory_path() / ("memembed-fuzz-" + std::to_string(::getpid()))) {
    fs::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

}  // namespace

fs::path write_input(std::string_view input, const std::string& name) {
  static const ScratchDir scratch;
  const fs::path path = scratch.path() / name;
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(input.data(), static_cast<std::streamsize>(input.size()));
  if (!out.flush()) throw std::runtime_error("cannot write fuzz input " + path.string());
  return path;
}

}  // namespace memembed::fuzz
