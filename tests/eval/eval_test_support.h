// Helpers shared by the eval tests: where ../shared is, temp directories, small file writers.
#pragma once

#include "fixture_support.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace memembed::eval_test {

using memembed::testing::read_file;
using memembed::testing::shared_dir;
using memembed::testing::TempDir;
using memembed::testing::write_file;

#define EVAL_REQUIRE_SHARED(path) MEMEMBED_REQUIRE_SHARED(path)

}  // namespace memembed::eval_test
