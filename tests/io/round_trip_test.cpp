// save_safetensors then load_safetensors: every dtype and kind of shape, the exact bytes of a
// small file, views on the mapping, and the copy made for unaligned data.
#include <array>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>

#include <gtest/gtest.h>

#include "io/test_files.h"
#include "qlinear/io.h"

namespace qlinear {
namespace {

using test::read_bytes;
using test::ScratchFolder;

constexpr std::array kAllDtypes = {
    Dtype::float64, Dtype::float32,     Dtype::float16,     Dtype::bfloat16,
    Dtype::int64,   Dtype::int32,       Dtype::int16,       Dtype::int8,
    Dtype::uint64,  Dtype::uint32,      Dtype::uint16,      Dtype::uint8,
    Dtype::bool_,   Dtype::float8_e4m3, Dtype::float8_e5m2, Dtype::float8_e8m0,
};

// Scalar, zero-size (alone and between other dims), 1-D and 4-D.
const std::array<Shape, 5> kShapeKinds = {Shape{}, Shape{0}, Shape{3, 0, 2}, Shape{7},
                                          Shape{2, 3, 1, 5}};

// Bytes that differ between tensors and positions, so data read from a wrong offset shows.
Tensor patterned(const Shape& shape, Dtype dtype, int seed) {
  Tensor t = Tensor::zeros(shape, dtype);
  auto* bytes = static_cast<std::uint8_t*>(t.mutable_data());
  for (std::size_t i = 0; i < t.nbytes(); ++i) {
    bytes[i] = static_cast<std::uint8_t>(i * 131 + static_cast<std::size_t>(seed) * 29 + 7);
  }
  return t;
}

// Whether p lies in a mapping of `path` in this process (Linux: /proc/self/maps).
bool is_in_mapping_of(const void* p, const std::filesystem::path& path) {
  const std::string file = std::filesystem::canonical(path).string();
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    std::istringstream fields(line);
    std::string range, permissions, offset, device, inode, name;
    fields >> range >> permissions >> offset >> device >> inode >> std::ws;
    std::getline(fields, name);
    if (name != file) continue;
    const std::size_t dash = range.find('-');
    const std::uintptr_t begin = std::stoull(range.substr(0, dash), nullptr, 16);
    const std::uintptr_t end = std::stoull(range.substr(dash + 1), nullptr, 16);
    if (begin <= address && address < end) return true;
  }
  return false;
}

TEST(SafetensorsRoundTrip, EveryDtypeAndShapeKindWithMetadata) {
  ScratchFolder folder;
  TensorMap tensors;
  int seed = 0;
  for (const Dtype dtype : kAllDtypes) {
    for (std::size_t kind = 0; kind < kShapeKinds.size(); ++kind) {
      tensors.emplace(std::string(name_of(dtype)) + "." + std::to_string(kind),
                      patterned(kShapeKinds[kind], dtype, ++seed));
    }
  }
  const Metadata metadata = {{"format", "mlx"}, {"note", "caf\u00e9 \"quoted\"\n"}, {"empty", ""}};
  const auto path = folder / "all.safetensors";
  save_safetensors(path, tensors, metadata);

  const SafetensorsFile loaded = load_safetensors(path);
  EXPECT_EQ(loaded.metadata, metadata);
  ASSERT_EQ(loaded.tensors.size(), tensors.size());
  for (const auto& [name, original] : tensors) {
    SCOPED_TRACE(name);
    const Tensor& t = loaded.tensors.at(name);
    EXPECT_TRUE(t.bit_equal(original));
    // The writer aligns every tensor, so none is copied: all are views on the mapping.
    EXPECT_TRUE(t.is_view());
    if (t.nbytes() > 0) {
      EXPECT_TRUE(is_in_mapping_of(t.data(), path));
    }
    EXPECT_THROW(const_cast<Tensor&>(t).mutable_data(), std::logic_error);
  }
}

TEST(SafetensorsRoundTrip, SavedFileHasTheCanonicalBytes) {
  ScratchFolder folder;
  const std::array<std::uint8_t, 3> a = {1, 2, 3};
  const std::array<std::uint16_t, 1> b = {0x3C00};  // 1.0 in float16
  const auto path = folder / "small.safetensors";
  save_safetensors(path,
                   {{"a", Tensor::from_values<std::uint8_t>({3}, Dtype::uint8, a)},
                    {"b", Tensor::from_values<std::uint16_t>({1}, Dtype::float16, b)}},
                   {{"format", "mlx"}});

  // Metadata first; the 2-byte tensor before the 1-byte one; header padded to 144 bytes.
  const std::string header = R"({"__metadata__":{"format":"mlx"},)"
                             R"("b":{"dtype":"F16","shape":[1],"data_offsets":[0,2]},)"
                             R"("a":{"dtype":"U8","shape":[3],"data_offsets":[2,5]}}      )";
  const std::string length("\x90\0\0\0\0\0\0\0", 8);  // 144, little-endian
  const std::string data("\x00\x3C\x01\x02\x03", 5);
  EXPECT_EQ(header.size(), 144u);
  EXPECT_EQ(read_bytes(path), length + header + data);
}

TEST(SafetensorsRoundTrip, HeaderUsesTheFormatsDtypeNames) {
  const std::array<std::pair<Dtype, const char*>, 16> names = {{
      {Dtype::float64, "F64"},
      {Dtype::float32, "F32"},
      {Dtype::float16, "F16"},
      {Dtype::bfloat16, "BF16"},
      {Dtype::int64, "I64"},
      {Dtype::int32, "I32"},
      {Dtype::int16, "I16"},
      {Dtype::int8, "I8"},
      {Dtype::uint64, "U64"},
      {Dtype::uint32, "U32"},
      {Dtype::uint16, "U16"},
      {Dtype::uint8, "U8"},
      {Dtype::bool_, "BOOL"},
      {Dtype::float8_e4m3, "F8_E4M3"},
      {Dtype::float8_e5m2, "F8_E5M2"},
      {Dtype::float8_e8m0, "F8_E8M0"},
  }};
  ScratchFolder folder;
  for (const auto& [dtype, name] : names) {
    SCOPED_TRACE(name);
    const auto path = folder / "one.safetensors";
    save_safetensors(path, {{"t", patterned({1}, dtype, 0)}});
    const std::string header = read_bytes(path).substr(8);
    EXPECT_TRUE(header.starts_with(std::string(R"({"t":{"dtype":")") + name + "\""));
  }
}

// A file as another writer might lay it out: keys not in offset order, __metadata__ last,
// extra padding.
TEST(SafetensorsRoundTrip, LoadsAHandWrittenFile) {
  ScratchFolder folder;
  const std::string header = R"({"z":{"data_offsets":[0,4],"shape":[2],"dtype":"I16"},)"
                             R"("a":{"shape":[],"dtype":"U8","data_offsets":[4,5]},)"
                             R"("__metadata__":{"format":"pt"}}                )";
  std::string length(8, '\0');
  length[0] = static_cast<char>(header.size());
  const auto path = folder / "other.safetensors";
  test::write_bytes(path, length + header + std::string("\x01\x00\xFF\xFF\x07", 5));

  const SafetensorsFile file = load_safetensors(path);
  EXPECT_EQ(file.metadata, (Metadata{{"format", "pt"}}));
  const std::array<std::int16_t, 2> z = {1, -1};
  const std::array<std::uint8_t, 1> a = {7};
  EXPECT_TRUE(
      file.tensors.at("z").bit_equal(Tensor::from_values<std::int16_t>({2}, Dtype::int16, z)));
  EXPECT_TRUE(
      file.tensors.at("a").bit_equal(Tensor::from_values<std::uint8_t>({}, Dtype::uint8, a)));
}

// MLX writes "__metadata__": null when a file has no metadata (mlx.nn save_weights).
TEST(SafetensorsRoundTrip, NullMetadataAsMlxWritesItIsEmpty) {
  ScratchFolder folder;
  const std::string header = R"({"__metadata__":null,"w":{"dtype":"F32","shape":[1],)"
                             R"("data_offsets":[0,4]}})";
  std::string length(8, '\0');
  length[0] = static_cast<char>(header.size());
  const auto path = folder / "mlx.safetensors";
  test::write_bytes(path, length + header + std::string("\0\0\x80\x3F", 4));
  const SafetensorsFile file = load_safetensors(path);
  EXPECT_TRUE(file.metadata.empty());
  EXPECT_EQ(file.tensors.at("w").to_floats(), std::vector<float>{1.0f});
}

TEST(SafetensorsRoundTrip, EmptyFileIsLegal) {
  ScratchFolder folder;
  const auto path = folder / "empty.safetensors";
  save_safetensors(path, {});
  EXPECT_EQ(read_bytes(path), std::string("\x08\0\0\0\0\0\0\0{}      ", 16));
  const SafetensorsFile loaded = load_safetensors(path);
  EXPECT_TRUE(loaded.tensors.empty());
  EXPECT_TRUE(loaded.metadata.empty());
}

TEST(SafetensorsRoundTrip, UnalignedTensorIsCopiedIntoAlignedStorage) {
  ScratchFolder folder;
  const auto path = folder / "unaligned.safetensors";
  const Tensor bytes = patterned({3}, Dtype::uint8, 1);
  const Tensor floats = patterned({2}, Dtype::float32, 2);
  // Declared smallest first, the float32 data starts at offset 3 of the data section.
  SafetensorsWriter writer(path, {{"a", Dtype::uint8, {3}}, {"b", Dtype::float32, {2}}});
  writer.write("a", bytes);
  writer.write("b", floats);
  writer.commit();

  const SafetensorsFile loaded = load_safetensors(path);
  const Tensor& a = loaded.tensors.at("a");
  const Tensor& b = loaded.tensors.at("b");
  EXPECT_TRUE(a.is_view());
  EXPECT_TRUE(a.bit_equal(bytes));
  EXPECT_FALSE(b.is_view());
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b.data()) % Tensor::kAlignment, 0u);
  EXPECT_TRUE(b.bit_equal(floats));
}

TEST(SafetensorsRoundTrip, ViewsOutliveTheFileObjectAndTheFile) {
  ScratchFolder folder;
  const auto path = folder / "w.safetensors";
  const Tensor w = patterned({4, 8}, Dtype::float32, 3);
  save_safetensors(path, {{"w", w}});
  Tensor view = load_safetensors(path).tensors.at("w");
  std::filesystem::remove(path);
  EXPECT_TRUE(view.bit_equal(w));
}

TEST(SafetensorsRoundTrip, SaveRejectsBadTensorsBeforeTouchingTheDisk) {
  ScratchFolder folder;
  const auto path = folder / "bad.safetensors";
  const Tensor w = patterned({2}, Dtype::float32, 4);
  EXPECT_THROW(save_safetensors(path, {{"w", w}, {"undefined", Tensor()}}), std::invalid_argument);
  EXPECT_THROW(save_safetensors(path, {{"__metadata__", w}}), std::invalid_argument);
  EXPECT_THROW(save_safetensors(path, {{"bad\xff name", w}}), std::invalid_argument);
  EXPECT_THROW(save_safetensors(path, {{"w", w}}, {{"key", "bad \xc0 value"}}),
               std::invalid_argument);
  EXPECT_TRUE(folder.files().empty());
}

TEST(SafetensorsLoad, MissingFileAndFolderAreFileErrors) {
  ScratchFolder folder;
  const auto missing = folder / "missing.safetensors";
  try {
    load_safetensors(missing);
    FAIL() << "loaded a missing file";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find(missing.string() + ": cannot open"), std::string::npos)
        << e.what();
  }
  try {
    load_safetensors(folder.path());
    FAIL() << "loaded a folder";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace qlinear
