// Floating-point hygiene: on valid input, no instruction set raises a floating-point
// exception (divide by zero, invalid, overflow) that the scalar reference does not, so a
// program running with traps enabled (feenableexcept) works with any kernels. Vector code
// must not, for example, divide by zero in lanes whose result it then discards.
#include <fenv.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/death_tests.h"
#include "kernels/isa.h"
#include "qlinear/ops.h"
#include "qlinear/quant_spec.h"
#include "qlinear/runtime.h"

namespace qlinear {
namespace {

constexpr int kTrapped = FE_DIVBYZERO | FE_INVALID | FE_OVERFLOW;

struct Case {
  std::string mode;
  int group_size;
  int bits;
  std::optional<float> global_scale = std::nullopt;  // nvfp4's
};

// nvfp4's global scales: the unit (scales stored as they are), and one so large that the
// scales round to E4M3's smallest steps and float16 quotients by them overflow.
std::vector<Case> cases() {
  std::vector<Case> all = {{"mxfp4", 32, 4},
                           {"mxfp8", 32, 8},
                           {"nvfp4", 16, 4},
                           {"nvfp4", 16, 4, 2688.0f},
                           {"nvfp4", 16, 4, 1e8f}};
  for (const int bits : modes::kAffineBits) {
    for (const int group_size : {32, 64, 128}) all.push_back({"affine", group_size, bits});
  }
  return all;
}

// Rows of 256 whose groups of 16 hit the edges of the group parameters: zeros, a
// constant, one sign only, values under the scale floor, subnormals, huge values, ties
// and ordinary noise.
Tensor edge_weights(Dtype dtype) {
  constexpr std::int64_t kRows = 8, kCols = 256;
  std::mt19937 engine(7);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> values(kRows * kCols);
  for (std::size_t i = 0; i < values.size(); ++i) {
    const float noise = normal(engine);
    const float huge = dtype == Dtype::float16 ? 2e3f : 1e35f;  // sums stay finite
    switch ((i / 16) % 8) {
      case 0:
        values[i] = 0.f;
        break;
      case 1:
        values[i] = 0.75f;
        break;
      case 2:
        values[i] = std::fabs(noise) + 1.f;
        break;
      case 3:
        values[i] = noise * 1e-12f;
        break;
      case 4:
        values[i] = noise * 1e-40f;
        break;  // float32 subnormals
      case 5:
        values[i] = noise > 0 ? huge : -huge;
        break;
      case 6:
        values[i] = static_cast<float>(i % 5) - 2.f;
        break;
      default:
        values[i] = noise;
        break;
    }
  }
  return Tensor::from_floats({kRows, kCols}, dtype, values);
}

// The exceptions quantize, dequantize and quantized_matmul raise on this thread (one
// thread: the floating-point state is per thread).
int raised_by_ops(const Case& c, Dtype dtype) {
  const Tensor w = edge_weights(dtype);
  std::mt19937 engine(11);
  std::uniform_real_distribution<float> uniform(-1.f, 1.f);
  std::vector<float> x_values(4 * w.dim(1));
  for (float& v : x_values) v = uniform(engine);
  const Tensor x = Tensor::from_floats({4, w.dim(1)}, dtype, x_values);
  std::optional<Tensor> global_scale;
  if (c.global_scale)
    global_scale = Tensor::from_floats({}, Dtype::float32, std::vector<float>{*c.global_scale});
  feclearexcept(FE_ALL_EXCEPT);
  const Quantized q = quantize(w, c.group_size, c.bits, c.mode, global_scale);
  dequantize(q.wq, q.scales, q.biases, c.group_size, c.bits, c.mode, std::nullopt, global_scale);
  quantized_matmul(x, q.wq, q.scales, q.biases, true, c.group_size, c.bits, c.mode);
  return fetestexcept(kTrapped);
}

std::string names(int flags) {
  std::string text;
  if (flags & FE_DIVBYZERO) text += " divide-by-zero";
  if (flags & FE_INVALID) text += " invalid";
  if (flags & FE_OVERFLOW) text += " overflow";
  return text.empty() ? " none" : text;
}

TEST(FloatingPointExceptions, NoInstructionSetRaisesOneTheReferenceDoesNot) {
  for (const Dtype dtype : {Dtype::float32, Dtype::float16, Dtype::bfloat16}) {
    for (const Case& c : cases()) {
      const int reference = testing::with_isa("scalar", 1, [&] { return raised_by_ops(c, dtype); });
      for (const std::string& isa : supported_isas()) {
        const int raised = testing::with_isa(isa, 1, [&] { return raised_by_ops(c, dtype); });
        EXPECT_EQ(raised & ~reference, 0)
            << isa << " " << c.mode << " bits " << c.bits << " group " << c.group_size
            << " global scale " << c.global_scale.value_or(0) << " " << name_of(dtype) << ": raised"
            << names(raised) << ", the reference" << names(reference);
      }
    }
  }
}

// The same calls with the exceptions trapping (SIGFPE), as a program that enables them
// would run: the child process exits normally only if nothing traps.
TEST(FloatingPointExceptionsDeathTest, OpsRunWithTrapsEnabled) {
  if (!testing::can_reexecute_self()) GTEST_SKIP() << testing::kCannotReexecute;
  // Trapping is optional on ARM64 (most cores and Apple's have none): nothing to test there.
  if (feenableexcept(kTrapped) == -1)
    GTEST_SKIP() << "this CPU cannot trap floating-point exceptions";
  fedisableexcept(kTrapped);
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  for (const std::string& isa : supported_isas()) {
    EXPECT_EXIT(
        {
          set_isa(isa);
          set_num_threads(1);
          feenableexcept(kTrapped);
          for (const Dtype dtype : {Dtype::float32, Dtype::float16, Dtype::bfloat16}) {
            for (const Case& c : cases()) raised_by_ops(c, dtype);
          }
          std::exit(0);
        },
        ::testing::ExitedWithCode(0), "")
        << isa;
  }
}

}  // namespace
}  // namespace qlinear
