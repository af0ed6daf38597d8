// The MLX-written files of tests/data/golden load with the names, dtypes, shapes and metadata
// their README describes.
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "qlinear/io.h"

namespace qlinear {
namespace {

const std::filesystem::path kGolden = std::filesystem::path(QLINEAR_TEST_DATA) / "golden";

std::vector<std::filesystem::path> golden_files() {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(kGolden)) {
    if (entry.path().extension() == ".safetensors") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

Dtype dtype_named(const std::string& name) {
  for (const Dtype d : {Dtype::float32, Dtype::float16, Dtype::bfloat16}) {
    if (name_of(d) == name) return d;
  }
  throw std::invalid_argument("unexpected dtype " + name);
}

TEST(SafetensorsGoldenFiles, HaveTheDocumentedLayout) {
  const auto files = golden_files();
  ASSERT_EQ(files.size(), 72u);  // 54 affine, 6 mx/nv, 10 edge, 2 shape
  for (const auto& path : files) {
    SCOPED_TRACE(path.filename().string());
    const SafetensorsFile file = load_safetensors(path);
    const Metadata& meta = file.metadata;
    for (const char* key :
         {"mode", "bits", "group_size", "dtype", "mlx_commit", "seed", "device", "transpose"}) {
      EXPECT_TRUE(meta.contains(key)) << key;
    }
    EXPECT_EQ(meta.at("device"), "cpu");
    EXPECT_EQ(meta.at("mlx_commit"), "846d176227a0ac13d2667e58d2bb68b322109ab0");
    const bool affine = meta.at("mode") == "affine";
    const std::int64_t bits = std::stoll(meta.at("bits"));
    const std::int64_t group_size = std::stoll(meta.at("group_size"));
    const Dtype dtype = dtype_named(meta.at("dtype"));

    const Tensor& w = file.tensors.at("w");
    ASSERT_EQ(w.ndim(), 2);
    const std::int64_t n = w.dim(0), k = w.dim(1);
    EXPECT_EQ(w.dtype(), dtype);
    EXPECT_EQ(file.tensors.at("w_hat").shape(), w.shape());
    EXPECT_EQ(file.tensors.at("w_hat").dtype(), dtype);
    EXPECT_EQ(file.tensors.at("wq").dtype(), Dtype::uint32);
    EXPECT_EQ(file.tensors.at("wq").shape(), (Shape{n, k * bits / 32}));
    EXPECT_EQ(file.tensors.at("scales").shape(), (Shape{n, k / group_size}));
    EXPECT_EQ(file.tensors.at("scales").dtype(), affine ? dtype : Dtype::uint8);
    EXPECT_EQ(file.tensors.contains("biases"), affine);
    if (affine) {
      EXPECT_EQ(file.tensors.at("biases").shape(), (Shape{n, k / group_size}));
    }
    const Tensor& x = file.tensors.at("x");
    const Tensor& y = file.tensors.at("y");
    EXPECT_EQ(x.dim(-1), k);
    EXPECT_EQ(y.dim(-1), n);
    EXPECT_EQ(x.ndim(), y.ndim());
  }
}

TEST(SafetensorsGoldenFiles, EdgeZerosHoldZeroGroups) {
  const SafetensorsFile file = load_safetensors(kGolden / "edge_zeros.safetensors");
  const Tensor& w = file.tensors.at("w");
  ASSERT_EQ(w.shape(), (Shape{8, 256}));
  const std::vector<float> values = w.to_floats();
  // Rows 0-3 are zero throughout; rows 4-7 in group 1 (columns 64-127) only.
  for (std::size_t row = 0; row < 8; ++row) {
    for (std::size_t col = 0; col < 256; ++col) {
      if (row < 4 || (col >= 64 && col < 128)) {
        ASSERT_EQ(values[row * 256 + col], 0.0f);
      }
    }
  }
  EXPECT_NE(values[4 * 256], 0.0f);
  EXPECT_NE(file.metadata.at("description").find("all-zero groups"), std::string::npos);
}

TEST(SafetensorsGoldenFiles, ShapeFilesHaveTheirBatchDims) {
  const SafetensorsFile x1 = load_safetensors(kGolden / "shape_x1d.safetensors");
  EXPECT_EQ(x1.tensors.at("x").shape(), (Shape{128}));
  EXPECT_EQ(x1.tensors.at("y").shape(), (Shape{32}));
  const SafetensorsFile x3 = load_safetensors(kGolden / "shape_x3d.safetensors");
  EXPECT_EQ(x3.tensors.at("x").shape(), (Shape{2, 3, 128}));
  EXPECT_EQ(x3.tensors.at("y").shape(), (Shape{2, 3, 32}));
}

}  // namespace
}  // namespace qlinear
