// read_gguf / load_gguf: MLX's golden output for a gguf-py file, and a malformed corpus
// built byte by byte here, each file refused with the reason it breaks the format.
#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "io/test_files.h"
#include "qlinear/gguf.h"
#include "qlinear/ops.h"

namespace qlinear {
namespace {

constexpr std::uint64_t kHuge = std::numeric_limits<std::uint64_t>::max();

struct TensorSpec {
  std::string name = "w";
  std::vector<std::uint64_t> dims = {32, 2};
  std::uint32_t type = 0;  // F32
  std::uint64_t offset = 0;
};

// A GGUF file described field by field, so that each test can break exactly one.
struct FileSpec {
  std::string magic = "GGUF";
  std::uint32_t version = 3;
  std::vector<TensorSpec> tensors = {TensorSpec{}};
  std::string metadata{};  // encoded key-value pairs (see Bytes::key_value)
  std::uint64_t metadata_count = 0;
  std::uint64_t alignment = 32;
  std::uint64_t data_bytes = 256;
  std::optional<std::uint64_t> tensor_count{};  // overrides tensors.size()
};

struct Bytes {
  std::string out;
  template <typename T>
  Bytes& put(T value) {
    out.append(reinterpret_cast<const char*>(&value), sizeof value);
    return *this;
  }
  Bytes& str(const std::string& text) {
    put<std::uint64_t>(text.size());
    out += text;
    return *this;
  }
};

std::string key_value(const std::string& key, std::uint32_t type, const std::string& payload) {
  Bytes b;
  b.str(key).put(type);
  return b.out + payload;
}

template <typename T>
std::string scalar(T value) {
  return Bytes().put(value).out;
}

std::string encode(const FileSpec& spec) {
  Bytes b;
  b.out = spec.magic;
  b.put(spec.version).put<std::uint64_t>(spec.tensor_count.value_or(spec.tensors.size()));
  b.put(spec.metadata_count);
  b.out += spec.metadata;
  for (const TensorSpec& t : spec.tensors) {
    b.str(t.name).put<std::uint32_t>(t.dims.size());
    for (const std::uint64_t dim : t.dims) b.put(dim);
    b.put(t.type).put(t.offset);
  }
  b.out.append((spec.alignment - b.out.size() % spec.alignment) % spec.alignment, '\0');
  for (std::uint64_t i = 0; i < spec.data_bytes; ++i) b.out += static_cast<char>(i);
  return b.out;
}

class GgufMalformed : public ::testing::Test {
 protected:
  // The message load_gguf throws for the file; "" if it loads.
  std::string error_of(const std::string& bytes) {
    const auto path = scratch_ / "bad.gguf";
    test::write_bytes(path, bytes);
    try {
      load_gguf(path);
    } catch (const FileError& e) {
      const std::string prefix = "[load_gguf] " + path.string() + ": ";
      EXPECT_EQ(std::string(e.what()).rfind(prefix, 0), 0u) << e.what();
      return std::string(e.what()).substr(prefix.size());
    }
    return "";
  }
  std::string error_of(const FileSpec& spec) { return error_of(encode(spec)); }

  test::ScratchFolder scratch_;
};

TEST_F(GgufMalformed, TheBaselineLoads) {
  EXPECT_EQ(error_of(FileSpec{}), "");
}

TEST_F(GgufMalformed, EveryTruncationIsRefused) {
  const std::string whole = encode(FileSpec{});
  for (std::size_t length = 0; length < whole.size(); ++length) {
    EXPECT_NE(error_of(whole.substr(0, length)), "") << length;
  }
  EXPECT_EQ(error_of(whole.substr(0, 10)),
            "tensor count at offset 8 needs 8 bytes, but the file has 2 left (truncated file?)");
  EXPECT_EQ(error_of(whole.substr(0, whole.size() - 1)),
            "data of tensor 'w' (256 bytes at offset 0) runs past the end of the 255-byte data "
            "section (truncated file?)");
}

TEST_F(GgufMalformed, MagicAndVersion) {
  EXPECT_EQ(error_of(FileSpec{.magic = "GGML"}),
            "not a GGUF file (the first 4 bytes are not 'GGUF')");
  EXPECT_EQ(error_of(FileSpec{.version = 1}), "version 1 is not supported (only 2 and 3)");
  EXPECT_EQ(error_of(FileSpec{.version = 0x03000000}),
            "version 50331648 (a big-endian file?) is not supported (only 2 and 3)");
  EXPECT_EQ(error_of(FileSpec{.version = 2}), "");
}

TEST_F(GgufMalformed, OverflowingCounts) {
  EXPECT_EQ(error_of(FileSpec{.metadata_count = kHuge}),
            "metadata count 18446744073709551615 is more than the 328 bytes left in the file "
            "can hold");
  EXPECT_EQ(error_of(FileSpec{.tensor_count = kHuge}),
            "tensor count 18446744073709551615 is more than the 328 bytes left in the file can "
            "hold");
  // A string length near 2^64 must not wrap the bounds check.
  FileSpec long_key{.metadata = Bytes().put(kHuge - 3).out + "abc", .metadata_count = 1};
  EXPECT_EQ(error_of(long_key).substr(0, 58),
            "key of metadata entry 0 of 18446744073709551612 bytes at o");
  // An array of 2^61 uint64 (2^64 bytes) in a small file.
  const std::string array = Bytes().put<std::uint32_t>(10).put<std::uint64_t>(1ull << 61).out;
  EXPECT_EQ(error_of(FileSpec{.metadata = key_value("k", 9, array), .metadata_count = 1}),
            "metadata 'k' declares 2305843009213693952 elements of uint64, more than the 303 "
            "bytes left in the file can hold");
}

TEST_F(GgufMalformed, OffsetsPastTheEndAndMisaligned) {
  EXPECT_EQ(error_of(FileSpec{.tensors = {{.offset = 1024}}}),
            "data of tensor 'w' (256 bytes at offset 1024) runs past the end of the 256-byte "
            "data section (truncated file?)");
  EXPECT_EQ(error_of(FileSpec{.tensors = {{.offset = kHuge}}}),
            "tensor 'w' has data offset 18446744073709551615, not a multiple of the alignment 32");
  // offset + size would wrap around 2^64.
  EXPECT_EQ(error_of(FileSpec{.tensors = {{.offset = kHuge - 31}}}),
            "data of tensor 'w' (256 bytes at offset 18446744073709551584) runs past the end of "
            "the 256-byte data section (truncated file?)");
  EXPECT_EQ(error_of(FileSpec{.tensors = {{.offset = 8}}}),
            "tensor 'w' has data offset 8, not a multiple of the alignment 32");
}

TEST_F(GgufMalformed, AlignmentIsAUint32PowerOfTwo) {
  const auto alignment = [](std::uint32_t value) {
    return FileSpec{.metadata = key_value("general.alignment", 4, scalar(value)),
                    .metadata_count = 1,
                    .alignment = std::has_single_bit(value) ? value : 32};
  };
  EXPECT_EQ(error_of(alignment(64)), "");
  EXPECT_EQ(error_of(alignment(0)), "general.alignment 0 is not a power of two");
  EXPECT_EQ(error_of(alignment(48)), "general.alignment 48 is not a power of two");
  EXPECT_EQ(
      error_of(FileSpec{.metadata = key_value("general.alignment", 10, scalar<std::uint64_t>(32)),
                        .metadata_count = 1}),
      "general.alignment is a uint64, not a uint32");
}

TEST_F(GgufMalformed, AbsurdDimensions) {
  EXPECT_EQ(error_of(FileSpec{.tensors = {{.dims = {32, kHuge}}}}),
            "dimension 1 of tensor 'w' is 18446744073709551615, above int64's range");
  EXPECT_EQ(error_of(FileSpec{.tensors = {{.dims = {32, 1ull << 62}}}}),
            "element count of tensor 'w' overflows int64");
  // Zero dimensions first do not excuse the others' product (fuzz finding).
  EXPECT_EQ(error_of(FileSpec{.tensors = {{.dims = {0, 0, 1ull << 62, 8}}}}),
            "element count of tensor 'w' overflows int64");
  EXPECT_EQ(error_of(FileSpec{.tensors = {{.dims = {32, 1, 1, 1, 1}}}}),
            "tensor 'w' has 5 dimensions, more than ggml's 4");
  EXPECT_EQ(error_of(FileSpec{.tensors = {{.dims = {16, 4}, .type = 2}}}),
            "dimension 0 of tensor 'w' is 16, not a multiple of Q4_0's block of 32");
  EXPECT_EQ(error_of(FileSpec{.tensors = {{.dims = {1ull << 62}, .type = 28}}}),
            "byte size of tensor 'w' (4611686018427387904 values of F64) overflows int64");
  // No values at all, but a last dimension whose word count would overflow (fuzz finding).
  const std::uint64_t wide_row = 6980579628639322144ull;  // a multiple of 32
  test::write_bytes(scratch_ / "empty_q8.gguf",
                    encode(FileSpec{.tensors = {{.dims = {wide_row, 0}, .type = 8}}}));
  const GgufLoad empty = load_gguf(scratch_ / "empty_q8.gguf");
  EXPECT_EQ(empty.tensors.at("w").shape(), (Shape{0, static_cast<std::int64_t>(wide_row / 4)}));
  EXPECT_EQ(empty.tensors.at("w.scales").shape(),
            (Shape{0, static_cast<std::int64_t>(wide_row / 32)}));
  // Many elements, few bytes: the size check comes before any allocation.
  EXPECT_EQ(error_of(FileSpec{.tensors = {{.dims = {1ull << 40}}}}),
            "data of tensor 'w' (4398046511104 bytes at offset 0) runs past the end of the "
            "256-byte data section (truncated file?)");
}

TEST_F(GgufMalformed, DuplicatesAndOverlaps) {
  EXPECT_EQ(error_of(FileSpec{.tensors = {{}, {.offset = 256}}, .data_bytes = 512}),
            "duplicate tensor name 'w'");
  const std::string one = key_value("k", 4, scalar<std::uint32_t>(1));
  EXPECT_EQ(error_of(FileSpec{.metadata = one + one, .metadata_count = 2}),
            "duplicate metadata key 'k'");
  EXPECT_EQ(error_of(FileSpec{.tensors = {{}, {.name = "v", .offset = 224}}, .data_bytes = 512}),
            "data of tensor 'v' at offset 224 overlaps tensor 'w' (256 bytes at offset 0)");
}

TEST_F(GgufMalformed, UnknownTypesAndBadValues) {
  EXPECT_EQ(error_of(FileSpec{.tensors = {{.type = 4}}}), "tensor 'w' has unknown type 4");
  EXPECT_EQ(error_of(FileSpec{.tensors = {{.type = 99}}}), "tensor 'w' has unknown type 99");
  EXPECT_EQ(error_of(FileSpec{.metadata = key_value("k", 13, ""), .metadata_count = 1}),
            "unknown value type 13 of metadata 'k' at offset 33");
  EXPECT_EQ(error_of(FileSpec{.metadata = key_value("k", 7, scalar<std::uint8_t>(2)),
                              .metadata_count = 1}),
            "bool metadata 'k' holds 2, not 0 or 1");
  std::string nested;  // arrays of arrays, 9 deep
  for (int i = 0; i < 9; ++i) nested += Bytes().put<std::uint32_t>(9).put<std::uint64_t>(1).out;
  EXPECT_EQ(error_of(FileSpec{.metadata = key_value("k", 9, nested), .metadata_count = 1}),
            "element 0 of element 0 of element 0 of element 0 of element 0 of element 0 of "
            "element 0 of element 0 of metadata 'k' nests arrays more than 8 deep");
}

TEST_F(GgufMalformed, TypesMlxDoesNotMapAreRefusedByTheImport) {
  EXPECT_EQ(error_of(FileSpec{.tensors = {{.dims = {256}, .type = 11}}, .data_bytes = 110}),
            "tensor 'w' has type Q3_K, which MLX 0.32.4 cannot load either");
  EXPECT_EQ(error_of(FileSpec{.tensors = {{.dims = {32}, .type = 6}}, .data_bytes = 22}),
            "tensor 'w' has type Q5_0, which MLX 0.32.4 cannot load either");
  // The exact import takes Q3_K and Q5_0, not the i-quants.
  test::write_bytes(scratch_ / "iq4.gguf",
                    encode(FileSpec{.tensors = {{.dims = {32}, .type = 20}}, .data_bytes = 18}));
  EXPECT_THROW(
      {
        try {
          load_gguf(scratch_ / "iq4.gguf", {.exact = true});
        } catch (const FileError& e) {
          EXPECT_NE(std::string(e.what()).find(
                        "tensor 'w' has type IQ4_NL, which qlinear cannot load yet"),
                    std::string::npos)
              << e.what();
          throw;
        }
      },
      FileError);
  // read_gguf itself takes every type ggml defines.
  test::write_bytes(scratch_ / "q5.gguf",
                    encode(FileSpec{.tensors = {{.dims = {32}, .type = 6}}, .data_bytes = 22}));
  const GgufFile file = read_gguf(scratch_ / "q5.gguf");
  ASSERT_EQ(file.tensors.size(), 1u);
  EXPECT_EQ(ggml_type_name(file.tensors[0].type), "Q5_0");
  EXPECT_EQ(file.tensors[0].nbytes, 22u);
}

TEST(GgufGolden, LoadsWhatMlxLoadsFromAGgufPyFile) {
  const std::filesystem::path folder = QLINEAR_TEST_DATA "/gguf";
  const GgufLoad loaded = load_gguf(folder / "tiny.gguf");
  const SafetensorsFile mlx = load_safetensors(folder / "tiny.mlx.safetensors");
  ASSERT_EQ(loaded.tensors.size(), mlx.tensors.size());
  for (const auto& [name, expected] : mlx.tensors) {
    ASSERT_EQ(loaded.tensors.count(name), 1u) << name;
    const Tensor& got = loaded.tensors.at(name);
    EXPECT_EQ(got.dtype(), expected.dtype()) << name;
    EXPECT_EQ(got.shape(), expected.shape()) << name;
    ASSERT_EQ(got.nbytes(), expected.nbytes()) << name;
    EXPECT_EQ(std::memcmp(got.data(), expected.data(), got.nbytes()), 0) << name;
  }
  EXPECT_TRUE(loaded.tensors.at("blk.0.f32.weight").is_view());  // not copied

  // The report, in file order: F32 F16 BF16 Q4_0 Q4_1 Q8_0 Q2_K Q4_K Q6_K.
  ASSERT_EQ(loaded.report.size(), 9u);
  const GgufTensorImport& q4_0 = loaded.report[3];
  EXPECT_EQ(q4_0.name, "blk.0.q4_0.weight");
  EXPECT_EQ(q4_0.type, "Q4_0");
  EXPECT_EQ(q4_0.method, GgufImportMethod::affine);
  EXPECT_EQ(q4_0.bits, 4);
  EXPECT_TRUE(q4_0.exact);
  EXPECT_EQ(loaded.report[0].method, GgufImportMethod::stored);
  EXPECT_TRUE(loaded.report[2].exact);  // BF16 of values near 1 are float16s too
  for (int i : {6, 7, 8}) {
    EXPECT_EQ(loaded.report[i].method, GgufImportMethod::float16);
    EXPECT_FALSE(loaded.report[i].exact) << loaded.report[i].type;
  }

  const auto& metadata = loaded.metadata;
  EXPECT_EQ(std::get<std::string>(metadata.at("general.architecture")), "llama");
  EXPECT_EQ(std::get<std::vector<std::string>>(metadata.at("tokenizer.ggml.tokens")),
            (std::vector<std::string>{"<s>", "a", "b"}));
  const Tensor& blocks = std::get<Tensor>(metadata.at("llama.block_count"));
  EXPECT_EQ(blocks.dtype(), Dtype::uint32);
  EXPECT_EQ(blocks.ndim(), 0);
  EXPECT_EQ(*blocks.data<std::uint32_t>(), 1u);
  const Tensor& scores = std::get<Tensor>(metadata.at("tokenizer.ggml.scores"));
  EXPECT_EQ(scores.dtype(), Dtype::float32);
  EXPECT_EQ(scores.shape(), Shape{3});
  EXPECT_EQ(scores.data<float>()[1], -1.5f);
}

// The exact import against gguf-py's float32 dequantization of every block: affine
// weights through qlinear's dequantize, the other types as loaded.
TEST(GgufGolden, ExactImportIsGgufPysDequantization) {
  const std::filesystem::path folder = QLINEAR_TEST_DATA "/gguf";
  const GgufLoad loaded = load_gguf(folder / "exact.gguf", {.exact = true});
  const SafetensorsFile ggufpy = load_safetensors(folder / "exact.ggufpy.safetensors");
  ASSERT_EQ(loaded.report.size(), ggufpy.tensors.size());
  for (const GgufTensorImport& tensor : loaded.report) {
    SCOPED_TRACE(tensor.name);
    EXPECT_TRUE(tensor.exact);
    const Tensor& expected = ggufpy.tensors.at(tensor.name);
    Tensor got = loaded.tensors.at(tensor.name);
    if (tensor.method == GgufImportMethod::affine) {
      const std::string prefix = tensor.name.substr(0, tensor.name.size() - 7);
      // float32 scales: dequantize computes in the scales' dtype
      got =
          dequantize(got, loaded.tensors.at(prefix + ".scales").astype(Dtype::float32),
                     loaded.tensors.at(prefix + ".biases").astype(Dtype::float32), 32, tensor.bits);
    } else {
      EXPECT_EQ(tensor.method, GgufImportMethod::dequantized);
    }
    ASSERT_EQ(got.dtype(), Dtype::float32);
    ASSERT_EQ(got.shape(), expected.shape());
    for (std::int64_t i = 0; i < got.size(); ++i) {
      // Equal values; a zero may be +0 where ggml gives -0 (d * (q - 8) with d < 0).
      ASSERT_EQ(got.data<float>()[i], expected.data<float>()[i]) << i;
    }
  }
  const auto method_of = [&](std::size_t i) {
    const GgufTensorImport& t = loaded.report[i];
    return t.type + " " + std::string(gguf_import_method_name(t.method)) + " " +
           std::to_string(t.bits) + (t.dtype == Dtype::float16 ? " float16" : " float32");
  };
  // Q4_0 ... Q8_0 keep float16 scales; d * sc of the K-quants needs float32.
  const std::vector<std::string> expected = {
      "Q4_0 affine 4 float16",      "Q4_1 affine 4 float16", "Q5_0 affine 5 float16",
      "Q5_1 affine 5 float16",      "Q8_0 affine 8 float16", "Q2_K dequantized 0 float32",
      "Q3_K dequantized 0 float32", "Q4_K affine 4 float32", "Q5_K affine 5 float32",
      "Q6_K dequantized 0 float32"};
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(method_of(i), expected[i]);
}

// write_gguf's file read back by read_gguf: metadata of each kind in order, tensors at
// their dims, types and bytes; a tensor whose bytes do not fit its dims is refused.
TEST(GgufWriter, ReadGgufReadsBackWhatWasWritten) {
  test::ScratchFolder scratch;
  GgufValue name{.type = GgufValueType::string, .strings = {"tiny"}};
  const std::uint32_t blocks = 2;
  GgufValue count{.type = GgufValueType::uint32,
                  .numbers = Tensor::copy_of({}, Dtype::uint32, &blocks)};
  GgufValue tokens{
      .type = GgufValueType::array, .element_type = GgufValueType::string, .strings = {"<s>", "a"}};
  const std::vector<std::int32_t> types = {3, 1};
  GgufValue token_types{.type = GgufValueType::array,
                        .element_type = GgufValueType::int32,
                        .numbers = Tensor::from_values<std::int32_t>({2}, Dtype::int32, types)};
  std::vector<std::byte> q4_1(2 * 20);  // two Q4_1 blocks
  for (std::size_t i = 0; i < q4_1.size(); ++i) q4_1[i] = std::byte(i * 7);
  const std::vector<GgufTensorData> tensors = {
      {"norm.weight", 0, {3}, std::vector<std::byte>(12, std::byte{1})},  // F32, 13 bytes pad
      {"w.weight", 3, {32, 2}, q4_1}};
  write_gguf(scratch.path() / "w.gguf",
             {{"general.name", name},
              {"llama.block_count", count},
              {"tokens", tokens},
              {"types", token_types}},
             tensors);
  const GgufFile file = read_gguf(scratch.path() / "w.gguf");
  ASSERT_EQ(file.metadata.size(), 4u);
  EXPECT_EQ(file.metadata[0].first, "general.name");
  EXPECT_EQ(file.metadata[0].second.strings, std::vector<std::string>{"tiny"});
  EXPECT_EQ(*file.metadata[1].second.numbers.data<std::uint32_t>(), 2u);
  EXPECT_EQ(file.metadata[2].second.strings, (std::vector<std::string>{"<s>", "a"}));
  EXPECT_EQ(file.metadata[3].second.numbers.data<std::int32_t>()[0], 3);
  ASSERT_EQ(file.tensors.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(file.tensors[i].name, tensors[i].name);
    EXPECT_EQ(file.tensors[i].type, tensors[i].type);
    EXPECT_EQ(file.tensors[i].dims, tensors[i].dims);
    ASSERT_EQ(file.tensors[i].nbytes, tensors[i].bytes.size());
    EXPECT_EQ(std::memcmp(file.tensors[i].data, tensors[i].bytes.data(), file.tensors[i].nbytes),
              0);
  }
  EXPECT_THROW(write_gguf(scratch.path() / "bad.gguf", {}, {{"w", 3, {32, 3}, q4_1}}),
               std::invalid_argument);
  EXPECT_FALSE(std::filesystem::exists(scratch.path() / "bad.gguf"));
}

}  // namespace
}  // namespace qlinear
