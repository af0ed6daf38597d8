// A small synthetic model folder per test, removed afterwards.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>

#include "qlinear/convert.h"

namespace qlinear::testing {

// 8 blocks (so that the mixed recipes pick blocks 0, 3, 6 and 7), hidden 64, MLP 128.
inline SyntheticModelShape small_shape() {
  SyntheticModelShape shape;
  shape.hidden = 64;
  shape.intermediate = 128;
  shape.vocab = 96;
  shape.blocks = 8;
  shape.heads = 4;
  shape.kv_heads = 2;
  return shape;
}

class ModelFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = std::filesystem::temp_directory_path() /
            (std::string("qlinear_") + info->test_suite_name() + "_" + info->name());
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
    write_synthetic_model(float_dir(), small_shape(), 1);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::filesystem::path float_dir() const { return root_ / "float"; }
  std::filesystem::path dir(const std::string& name) const { return root_ / name; }

  ConversionPlan convert(const std::string& name, const ConvertOptions& options) {
    return run_conversion(plan_conversion(float_dir(), options), dir(name));
  }

  std::filesystem::path root_;
};

}  // namespace qlinear::testing
