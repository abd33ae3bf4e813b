// TREC run files (qid Q0 docid rank score tag).
#include "fuzz_target.h"
#include "run_file.h"

MEMEMBED_FUZZ_TARGET(trec_run) {
  using namespace memembed;
  fuzz::refusing_bad_input([&] {
    const eval::TrecRun run = eval::TrecRun::read(fuzz::write_input(input, "run.trec"));
    for (size_t q = 0; q < run.num_queries(); ++q) {
      for (const eval::RunDoc* doc = run.begin(q); doc != run.end(q); ++doc) (void)doc->doc_id.size();
    }
  });
}
