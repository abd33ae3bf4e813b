// The conformance suite every MemoryBackend must pass (SQLite here, PostgreSQL in the server's
// tests): the same MemoryStore semantics - records, validation, expiry, agent isolation, shared
// knowledge, filters inside the search, vector sets - over whatever database is underneath.
//
// A backend registers itself in its own test file, linked with backend_conformance.cpp (CMake:
// memory_conformance_test(NAME SOURCES ... DEPS ...), defined in tests/memory/CMakeLists.txt):
//
//   INSTANTIATE_TEST_SUITE_P(Postgres, BackendConformance,
//       ::testing::Values(memembed::testing::BackendUnderTest{"postgres", [](const fs::path& dir) {
//         return open_postgres_backend(...fresh database...);
//       }}), memembed::testing::backend_name);
//
// The factory gets a fresh empty directory per test and must return an empty backend; it is
// called again with the same directory to check that data survives reopening.
#pragma once

#include "fixture_support.h"
#include "memembed/memory.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace memembed::testing {

struct BackendUnderTest {
  std::string name;
  memory::BackendFactory factory;
};

inline std::string backend_name(const ::testing::TestParamInfo<BackendUnderTest>& info) {
  return info.param.name;
}

class BackendConformance : public ::testing::TestWithParam<BackendUnderTest> {
 protected:
  void SetUp() override;
  void TearDown() override;
  // Opens (or reopens, after close()) the backend under test on this test's directory.
  std::unique_ptr<memory::MemoryBackend> open_backend();
  // A store over a fresh backend with no model (BM25 and metadata only) unless one is given.
  memory::MemoryStore& store(std::shared_ptr<const memory::Embedder> embedder = nullptr);
  void close();

  TempDir temp_;
  std::filesystem::path dir_;
  std::unique_ptr<memory::MemoryStore> store_;
};

}  // namespace memembed::testing
