// Relevance judgments in LMEB/BEIR TSV and TREC qrels form.
#include "fuzz_target.h"
#include "qrels.h"

MEMEMBED_FUZZ_TARGET(qrels) {
  using namespace memembed;
  fuzz::refusing_bad_input([&] { eval::Qrels::read(fuzz::write_input(input, "qrels.tsv")); });
}
