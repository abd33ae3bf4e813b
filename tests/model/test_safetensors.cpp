// The safetensors reader refuses every malformed file with a message naming the problem, and
// reads every float dtype exactly.
#include "fixture_support.h"
#include "memembed/error.h"
#include "memembed/json_io.h"
#include "safetensors.h"

#include <cstring>

using namespace memembed;
using namespace memembed::model;
using memembed::testing::TempDir;

namespace {

std::string file_with_header(const std::string& header, const std::string& data) {
  std::string bytes(8, '\0');
  const uint64_t length = header.size();
  for (int i = 0; i < 8; ++i) bytes[static_cast<size_t>(i)] = static_cast<char>((length >> (8 * i)) & 0xFF);
  return bytes + header + data;
}

std::string error_of(const std::filesystem::path& path) {
  try {
    SafetensorsFile file(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

class SafetensorsTest : public ::testing::Test {
 protected:
  std::filesystem::path write(const std::string& name, const std::string& bytes) {
    const auto path = dir_ / name;
    memembed::testing::write_file(path, bytes);
    return path;
  }
  TempDir dir_;
};

TEST_F(SafetensorsTest, ReadsF32F16Bf16Exactly) {
  const float values[2] = {1.5f, -0.25f};
  std::string f32(reinterpret_cast<const char*>(values), 8);
  // 1.5 and -0.25 in f16 (0x3E00, 0xB400) and bf16 (0x3FC0, 0xBE80), little-endian.
  const std::string f16("\x00\x3E\x00\xB4", 4);
  const std::string bf16("\xC0\x3F\x80\xBE", 4);
  const std::string header =
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F16","shape":[2],"data_offsets":[8,12]},)"
      R"("c":{"dtype":"BF16","shape":[1,2],"data_offsets":[12,16]},"__metadata__":{"format":"pt"}})";
  const auto path = write("ok.safetensors", file_with_header(header, f32 + f16 + bf16));
  SafetensorsFile file(path);
  EXPECT_EQ(file.metadata().at("format"), "pt");
  for (const char* name : {"a", "b", "c"}) {
    const at::Tensor t = file.read_float32(*file.find(name)).reshape({-1});
    EXPECT_EQ(t.scalar_type(), at::kFloat);
    EXPECT_EQ(t[0].item<float>(), 1.5f) << name;
    EXPECT_EQ(t[1].item<float>(), -0.25f) << name;
  }
}

TEST_F(SafetensorsTest, TruncatedFileIsRefused) {
  const std::string header = R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})";
  const auto path = write("truncated.safetensors", file_with_header(header, std::string(10, '\0')));
  EXPECT_NE(error_of(path).find("outside the 10 bytes of tensor data"), std::string::npos) << error_of(path);
  EXPECT_NE(error_of(write("tiny.safetensors", "abc")).find("truncated"), std::string::npos);
}

TEST_F(SafetensorsTest, HeaderLengthBeyondFileIsRefused) {
  std::string bytes = file_with_header("{}", "");
  bytes[0] = '\x7F';
  bytes[1] = '\x7F';
  EXPECT_NE(error_of(write("long.safetensors", bytes)).find("bad header"), std::string::npos);
}

TEST_F(SafetensorsTest, HeaderThatIsNotJsonIsRefused) {
  EXPECT_NE(error_of(write("json.safetensors", file_with_header("{not json", ""))).find("not valid JSON"),
            std::string::npos);
}

TEST_F(SafetensorsTest, UnknownDtypeIsNamed) {
  const std::string header = R"({"w":{"dtype":"F12","shape":[1],"data_offsets":[0,4]}})";
  const std::string message = error_of(write("dtype.safetensors", file_with_header(header, std::string(4, '\0'))));
  EXPECT_NE(message.find("unknown dtype \"F12\""), std::string::npos) << message;
  EXPECT_NE(message.find("tensor \"w\""), std::string::npos) << message;
}

TEST_F(SafetensorsTest, SpanNotMatchingShapeIsRefused) {
  const std::string header = R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})";
  const std::string message = error_of(write("span.safetensors", file_with_header(header, std::string(8, '\0'))));
  EXPECT_NE(message.find("needs 12 bytes but the data span is 8"), std::string::npos) << message;
}

TEST_F(SafetensorsTest, OverlappingTensorsAreRefused) {
  const std::string header =
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
  EXPECT_NE(error_of(write("overlap.safetensors", file_with_header(header, std::string(12, '\0')))).find("overlap"),
            std::string::npos);
}

TEST_F(SafetensorsTest, ShapeMismatchAndMissingTensorNameTheTensor) {
  const std::string header = R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";
  const auto path = write("model.safetensors", file_with_header(header, std::string(16, '\0')));
  const WeightSource weights = WeightSource::open_file(path);
  try {
    weights.load("w", {4});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tensor \"w\" has shape [2, 2] but config.json implies [4]"),
              std::string::npos) << e.what();
  }
  try {
    weights.load("encoder.layer.0.missing", {1});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
    EXPECT_NE(std::string(e.what()).find("encoder.layer.0.missing"), std::string::npos);
  }
}

TEST_F(SafetensorsTest, IntegerTensorsAreNotWeights) {
  const std::string header = R"({"position_ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})";
  SafetensorsFile file(write("ids.safetensors", file_with_header(header, std::string(8, '\0'))));
  EXPECT_THROW(file.read_float32(*file.find("position_ids")), Error);
}

// Found by the safetensors fuzzer under UBSan: reading a tensor with a 0 in its shape passed a null
// buffer to memcpy.
TEST_F(SafetensorsTest, EmptyTensorReadsAsAnEmptyFloatTensor) {
  const std::string header = R"({"e":{"dtype":"F16","shape":[0,3],"data_offsets":[0,0]}})";
  SafetensorsFile file(write("empty.safetensors", file_with_header(header, "")));
  const at::Tensor tensor = file.read_float32(*file.find("e"));
  EXPECT_EQ(tensor.sizes(), (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(tensor.scalar_type(), at::kFloat);
}

TEST_F(SafetensorsTest, LargeTensorIsNotResidentTwiceWhileRead) {
  // 64 MiB: copied slice by slice, each slice's mapped pages dropped once copied, the read grows
  // the resident set by the copy plus about one slice (16 MiB), not by the copy plus the mapping.
  const at::Tensor big = at::arange(int64_t{16} << 20, at::kFloat);
  write_safetensors(dir_ / "big.safetensors", {{"w", big}}, {});
  SafetensorsFile file(dir_ / "big.safetensors");
  const int64_t before = memembed::testing::reset_peak_rss_kib();
  if (before < 0) GTEST_SKIP() << "cannot reset VmHWM here";
  const at::Tensor read = file.read_float32(*file.find("w"));
  const int64_t growth = memembed::testing::status_kib("VmHWM") - before;
  EXPECT_LT(growth, 100 * 1024) << "reading 64 MiB grew the resident set by " << growth << " KiB";
  EXPECT_TRUE(at::equal(read, big));
}

TEST_F(SafetensorsTest, WriteThenReadRoundTrips) {
  const TempDir dir;
  const at::Tensor a = at::randn({3, 5});
  const at::Tensor b = at::randn({7});
  write_safetensors(dir / "x.safetensors", {{"a", a}, {"b", b}}, {{"format", "pt"}});
  const WeightSource weights = WeightSource::open_file(dir / "x.safetensors");
  EXPECT_TRUE(at::equal(weights.load("a", {3, 5}), a));
  EXPECT_TRUE(at::equal(weights.load("b", {7}), b));
}

TEST_F(SafetensorsTest, ShardedIndexIsFollowed) {
  const TempDir dir;
  write_safetensors(dir / "model-00001-of-00002.safetensors", {{"a", at::ones({2})}});
  write_safetensors(dir / "model-00002-of-00002.safetensors", {{"b", at::zeros({3})}});
  memembed::testing::write_file(dir / "model.safetensors.index.json",
                                R"({"metadata":{},"weight_map":{"a":"model-00001-of-00002.safetensors",)"
                                R"("b":"model-00002-of-00002.safetensors"}})");
  const WeightSource weights = WeightSource::open_directory(dir.path());
  EXPECT_EQ(weights.load("a", {2}).sum().item<float>(), 2.0f);
  EXPECT_EQ(weights.load("b", {3}).sum().item<float>(), 0.0f);
  memembed::testing::write_file(dir / "model.safetensors.index.json",
                                R"({"weight_map":{"a":"model-00002-of-00002.safetensors"}})");
  EXPECT_THROW(WeightSource::open_directory(dir.path()), Error);
}

TEST_F(SafetensorsTest, ShapeWhoseByteCountOverflowsIsInvalidInput) {
  // 2^32 x 2^32 elements wrap to 0 in 64 bits, which would match an empty span.
  const std::string wrapping = R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})";
  // 2^62 elements of 4 bytes: the element count fits, the byte count does not.
  const std::string bytes = R"({"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}})";
  // A dimension beyond int64 would turn negative as a tensor size.
  const std::string huge_dim = R"({"w":{"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,0]}})";
  for (const std::string& header : {wrapping, bytes, huge_dim}) {
    const auto path = write("overflow.safetensors", file_with_header(header, ""));
    try {
      SafetensorsFile file(path);
      FAIL() << "accepted " << header;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidInput) << e.what();
      EXPECT_NE(std::string(e.what()).find("tensor \"w\""), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("too large"), std::string::npos) << e.what();
    }
  }
}

TEST_F(SafetensorsTest, ShardNamesMayNotLeaveTheModelDirectory) {
  const TempDir root;
  write_safetensors(root / "outside.safetensors", {{"a", at::ones({2})}});
  write_safetensors(root / "model" / "inside.safetensors", {{"a", at::ones({2})}});
  for (const std::string& shard : {std::string("../outside.safetensors"), (root / "outside.safetensors").string(),
                                   std::string("sub/../../outside.safetensors")}) {
    memembed::testing::write_file(root / "model" / "model.safetensors.index.json",
                                  Json{{"weight_map", {{"a", shard}}}}.dump());
    try {
      WeightSource::open_directory(root / "model");
      FAIL() << "followed " << shard;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidInput) << e.what();
      EXPECT_NE(std::string(e.what()).find("outside the directory"), std::string::npos) << e.what();
    }
  }
  memembed::testing::write_file(root / "model" / "model.safetensors.index.json",
                                R"({"weight_map":{"a":"./inside.safetensors"}})");
  EXPECT_EQ(WeightSource::open_directory(root / "model").load("a", {2}).sum().item<float>(), 2.0f);
}

}  // namespace
