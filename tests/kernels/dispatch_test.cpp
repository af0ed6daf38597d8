#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "kernels/kernels.h"
#include "qlinear/runtime.h"

namespace qlinear {
namespace {

TEST(Dispatch, ReferenceIsAlwaysSupportedAndFirst) {
  const auto names = supported_isas();
  ASSERT_FALSE(names.empty());
  EXPECT_EQ(names.front(), "scalar");
  EXPECT_EQ(kernels::supported_tables().front(), &kernels::reference_table());
}

TEST(Dispatch, SelectsEverySupportedIsaByName) {
  const std::string original(active_isa());
  for (const std::string& name : supported_isas()) {
    set_isa(name);
    EXPECT_EQ(active_isa(), name);
    EXPECT_EQ(kernels::active_table().isa, name);
  }
  set_isa(original);
}

TEST(Dispatch, RefusesAnUnknownIsaAndKeepsTheActiveOne) {
  const std::string original(active_isa());
  try {
    set_isa("sse9");
    FAIL() << "set_isa accepted an unknown instruction set";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("sse9"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("scalar"), std::string::npos);
  }
  EXPECT_EQ(active_isa(), original);
}

TEST(MatmulPrecisionSetting, DefaultsToExactAndRoundTripsByName) {
  EXPECT_EQ(matmul_precision(), MatmulPrecision::exact);  // QLINEAR_MATMUL_PRECISION unset
  for (auto p : {MatmulPrecision::exact, MatmulPrecision::bfloat16, MatmulPrecision::int8}) {
    EXPECT_EQ(parse_matmul_precision(to_string(p)), p);
    set_matmul_precision(p);
    EXPECT_EQ(matmul_precision(), p);
  }
  set_matmul_precision(MatmulPrecision::exact);
}

TEST(MatmulPrecisionSetting, RefusesAnUnknownName) {
  try {
    parse_matmul_precision("fp8");
    FAIL() << "parse_matmul_precision accepted 'fp8'";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(),
                 "[qlinear] unknown matmul precision 'fp8'; expected exact, bfloat16 or int8");
  }
}

}  // namespace
}  // namespace qlinear
