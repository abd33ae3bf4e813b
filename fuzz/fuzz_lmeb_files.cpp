// LMEB / BEIR task files: the first input byte picks corpus.jsonl, queries.jsonl, candidates.jsonl
// (against a small corpus) or task_instructions.json; the rest is the file.
#include "fuzz_target.h"
#include "task_loader.h"

MEMEMBED_FUZZ_TARGET(lmeb_files) {
  using namespace memembed;
  if (input.empty()) return;
  const std::string_view content = input.substr(1);
  fuzz::refusing_bad_input([&] {
    switch (static_cast<unsigned char>(input[0]) % 4) {
      case 0: eval::load_corpus(fuzz::write_input(content, "task/corpus.jsonl")); break;
      case 1: eval::load_queries(fuzz::write_input(content, "task/queries.jsonl")); break;
      case 2: {
        const auto corpus = eval::load_corpus(fuzz::write_input(
            "{\"id\": \"d1\", \"text\": \"a\"}\n{\"id\": \"d2\", \"title\": \"t\", \"text\": \"b\"}\n", "task/corpus.jsonl"));
        eval::load_candidates(fuzz::write_input(content, "task/candidates.jsonl"), *corpus);
        break;
      }
      default: {
        const auto table = eval::InstructionTable::load(fuzz::write_input(content, "task/task_instructions.json"));
        table.lookup("LoCoMo", {"single_hop", "default"});
      }
    }
  });
}
