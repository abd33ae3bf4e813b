// The hub's repository listing (GET /api/models/ORG/NAME/revision/R?blobs=true), as JSON text.
#include "fuzz_target.h"
#include "hub_client.h"

MEMEMBED_FUZZ_TARGET(hub_listing) {
  using namespace memembed;
  // Malformed JSON is refused by the HTTP layer before parse_snapshot sees it.
  const Json answer = Json::parse(input.begin(), input.end(), nullptr, false);
  if (answer.is_discarded()) return;
  fuzz::refusing_bad_input([&] { hub::parse_snapshot(answer, "org/name", "main", "fuzz"); });
}
