// A writer for the crash tests: stores memories into the store at argv[1] until it is killed,
// printing "<id>\n" on stdout (flushed) after each store() returns - an acknowledged write.
#include "memembed/memory.h"

#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: memory_crash_writer DATA_DIR\n");
    return 2;
  }
  using namespace memembed::memory;
  MemoryStore store(open_sqlite_backend(argv[1]), StoreOptions{});
  for (size_t i = 0;; ++i) {
    StoreRequest r;
    r.content = "crash test memory number " + std::to_string(i) + " with some words to index";
    r.metadata.tags = {"t" + std::to_string(i % 7)};
    const std::string id = store.store("writer", r);
    std::printf("%s\n", id.c_str());
    std::fflush(stdout);
  }
}
