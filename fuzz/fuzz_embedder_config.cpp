// The embedder config file (`memembed recommend --write-config`), as a server reads it.
#include "fuzz_target.h"
#include "memembed/select.h"

MEMEMBED_FUZZ_TARGET(embedder_config) {
  using namespace memembed;
  fuzz::refusing_bad_input([&] {
    const auto config = select::load_embedder_config(fuzz::write_input(input, "embedder.json"));
    for (const char* category : select::kConfigCategories) select::format_query(config, category, "query");
  });
}
