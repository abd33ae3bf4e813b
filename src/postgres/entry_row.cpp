#include "entry_row.h"

#include "memembed/json_io.h"

namespace memembed::postgres {

const char* const kEntryColumns =
    "m.id, m.agent_id, m.namespace, m.category, m.content, m.source, m.confidence, array_to_json(m.tags)::text, "
    "m.created_at, m.updated_at, m.expires_at, m.shared";

memory::MemoryEntry entry_from_row(const PgResult& r, int row, int first) {
  memory::MemoryEntry entry;
  entry.id = r.text(row, first + 0);
  entry.agent_id = r.text(row, first + 1);
  entry.namespace_ = r.text(row, first + 2);
  entry.category = memory::parse_category(r.text(row, first + 3));
  entry.content = r.text(row, first + 4);
  entry.metadata.source = r.text(row, first + 5);
  entry.metadata.confidence = r.real(row, first + 6);
  for (const Json& tag : Json::parse(r.text(row, first + 7))) entry.metadata.tags.push_back(tag.get<std::string>());
  entry.created_at = r.integer(row, first + 8);
  entry.updated_at = r.integer(row, first + 9);
  if (!r.is_null(row, first + 10)) entry.expires_at = r.integer(row, first + 10);
  entry.shared = r.boolean(row, first + 11);
  return entry;
}

}  // namespace memembed::postgres
