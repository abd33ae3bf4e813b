// How a memory is read from memembed_memories (alias m): the columns to select and the entry
// they make. Shared by the backend and the lexical mirror.
#pragma once

#include "memembed/memory.h"
#include "pg_connection.h"

namespace memembed::postgres {

// Select list of a MemoryEntry on alias m, in the order entry_from_row reads (12 columns).
extern const char* const kEntryColumns;

// The entry in `row` of `r`, its columns starting at `first` (kEntryColumns' order).
memory::MemoryEntry entry_from_row(const PgResult& r, int row, int first = 0);

}  // namespace memembed::postgres
