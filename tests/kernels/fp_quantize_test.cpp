// The float-mode quantize of every kernel table this CPU supports against the scalar
// reference, byte for byte: the codes and scales of mxfp4, mxfp8 and nvfp4 (with and
// without a global scale) for float32, float16 and bfloat16 weights, on random data at
// several magnitudes and on crafted groups at every rounding corner of the element and
// scale formats, non-finite values included (the ops layer refuses them; the kernels are
// called directly). Shapes whose group counts are not multiples of any vector width, on
// 1 to 3 threads, exercise the tails.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "formats/fp4_e2m1.h"
#include "formats/fp8_e4m3.h"
#include "kernels/kernels.h"
#include "qlinear/dtype.h"
#include "qlinear/quant_spec.h"
#include "qlinear/runtime.h"
#include "qlinear/tensor.h"

namespace qlinear {
namespace {

constexpr Dtype kFloatTypes[] = {Dtype::float32, Dtype::float16, Dtype::bfloat16};
constexpr QuantMode kFloatModes[] = {QuantMode::mxfp4, QuantMode::mxfp8, QuantMode::nvfp4};
constexpr float kInf = std::numeric_limits<float>::infinity();

// Weights of one dtype: `values` rounded to it, in rows of `cols`.
Tensor weights_of(Dtype dtype, std::int64_t cols, const std::vector<float>& values) {
  return Tensor::from_floats({static_cast<std::int64_t>(values.size()) / cols, cols}, dtype,
                             values);
}

// The neighbours of a positive value v of dtype (v itself representable), one step of
// dtype's precision down and up.
std::pair<float, float> neighbours(float v, Dtype dtype) {
  if (dtype == Dtype::float32) {
    return {std::nextafter(v, 0.0f), std::nextafter(v, kInf)};
  }
  const bool half = dtype == Dtype::float16;
  const std::uint16_t bits = half ? from_float<float16_t>(v).bits : from_float<bfloat16_t>(v).bits;
  auto value = [&](std::uint16_t b) {
    return half ? to_float(float16_t{b}) : to_float(bfloat16_t{b});
  };
  return {value(static_cast<std::uint16_t>(bits - 1)), value(static_cast<std::uint16_t>(bits + 1))};
}

struct Quantized {
  std::vector<std::uint32_t> wq;
  std::vector<std::uint8_t> scales;
};

Quantized quantize_with(const kernels::KernelTable& table, QuantMode mode, const Tensor& w,
                        const float* global_scale) {
  const QuantSpec spec = QuantSpec::defaults(mode);
  const std::int64_t rows = w.dim(0), cols = w.dim(1);
  Quantized q{std::vector<std::uint32_t>(static_cast<std::size_t>(rows * spec.packed_words(cols))),
              std::vector<std::uint8_t>(static_cast<std::size_t>(rows * cols / spec.group_size))};
  table.quantize(
      {spec, w.data(), w.dtype(), rows, cols, q.wq.data(), q.scales.data(), nullptr, global_scale});
  return q;
}

// "" if a == b, else where they first differ.
template <class V>
std::string difference(const std::vector<V>& a, const std::vector<V>& b) {
  const auto [ia, ib] = std::mismatch(a.begin(), a.end(), b.begin());
  if (ia == a.end()) return "";
  return "at " + std::to_string(ia - a.begin()) + ": " + std::to_string(*ia) +
         " vs the reference's " + std::to_string(*ib);
}

// Every float mode whose group size divides w's row length (nvfp4 with no and several
// global scales), on every supported table but the reference (the first) and 1 to 3
// threads, against the reference.
void expect_bit_exact(const Tensor& w, const std::string& data) {
  const auto tables = kernels::supported_tables();
  for (const QuantMode mode : kFloatModes) {
    if (w.dim(1) % QuantSpec::defaults(mode).group_size != 0) continue;
    std::vector<std::optional<float>> global_scales = {std::nullopt};
    if (mode == QuantMode::nvfp4)
      global_scales.insert(global_scales.end(), {2688.0f, 1.0f, 0.37f, 3e5f, 0.0f});
    for (const std::optional<float>& g : global_scales) {
      const float* global_scale = g ? &*g : nullptr;
      set_num_threads(1);
      const Quantized ref = quantize_with(kernels::reference_table(), mode, w, global_scale);
      for (std::size_t t = 1; t < tables.size(); ++t) {
        for (const int threads : {1, 2, 3}) {
          set_num_threads(threads);
          const Quantized fast = quantize_with(*tables[t], mode, w, global_scale);
          const std::string what =
              std::string(tables[t]->isa) + " " + std::string(mode_name(mode)) +
              (g ? " global scale " + std::to_string(*g) : "") + " " +
              std::string(name_of(w.dtype())) + " " + data + " threads " + std::to_string(threads);
          EXPECT_EQ(difference(fast.scales, ref.scales), "") << what << ": scales";
          EXPECT_EQ(difference(fast.wq, ref.wq), "") << what << ": codes";
        }
      }
    }
  }
  set_num_threads(0);
}

TEST(FpQuantize, RandomWeightsAreBitExact) {
  // 1 group; a few rows of a few groups; rows of more groups than one vector of any
  // width, in a count no thread split divides evenly.
  const std::pair<std::int64_t, std::int64_t> shapes[] = {{1, 32}, {1, 16},   {3, 48},
                                                          {5, 96}, {37, 160}, {19, 1056}};
  for (const Dtype dtype : kFloatTypes) {
    for (const float scale : {1e-30f, 1e-6f, 0.02f, 1.0f, 300.0f, 3e4f}) {
      if (dtype == Dtype::float16 && (scale < 1e-6f || scale > 1e3f)) continue;
      for (const auto& [rows, cols] : shapes) {
        std::mt19937 rng(static_cast<std::uint32_t>(rows * cols));
        std::normal_distribution<float> normal(0.0f, scale);
        std::vector<float> values(static_cast<std::size_t>(rows * cols));
        for (float& v : values) v = normal(rng);
        expect_bit_exact(weights_of(dtype, cols, values), "normal(0, " + std::to_string(scale) +
                                                              ") " + std::to_string(rows) + "x" +
                                                              std::to_string(cols));
      }
    }
  }
}

// The points halfway between neighbouring element values (ties) of a float mode's
// element format, positive, with magnitudes up to its largest value.
std::vector<float> element_ties(QuantMode mode) {
  if (mode != QuantMode::mxfp8) {
    const auto& m = formats::Fp4E2M1::kMidpoints;
    return {m.begin(), m.end()};
  }
  std::vector<float> ties;
  for (std::uint8_t c = 0; c < formats::Fp8E4M3::kMaxCode; ++c) {
    ties.push_back((formats::Fp8E4M3::decode(c) + formats::Fp8E4M3::decode(c + 1)) / 2);
  }
  return ties;
}

// Power-of-two scales 2^k that keep a group of dtype finite and its ties mostly exact.
std::vector<int> scale_exponents(Dtype dtype) {
  if (dtype == Dtype::float16) return {-14, -9, -1, 0, 1, 4, 7};
  return {-133, -127, -126, -120, -60, -1, 0, 1, 37, 110, 118};
}

// Groups (as rows of gs values) at the corners of a float mode for dtype: each value
// rounds to dtype when the weights are made.
std::vector<std::vector<float>> crafted_groups(QuantMode mode, Dtype dtype, std::mt19937& rng) {
  const int gs = QuantSpec::defaults(mode).group_size;
  const bool fp8 = mode == QuantMode::mxfp8;
  const float element_max = fp8 ? formats::Fp8E4M3::kMax : formats::Fp4E2M1::kMax;
  const float dtype_max = dtype == Dtype::float16    ? 65504.0f
                          : dtype == Dtype::bfloat16 ? 0x1.FEp127f
                                                     : std::numeric_limits<float>::max();
  const float dtype_min = dtype == Dtype::float16    ? 0x1p-24f
                          : dtype == Dtype::bfloat16 ? 0x1p-133f
                                                     : std::numeric_limits<float>::denorm_min();
  std::vector<std::vector<float>> groups;
  // Values in groups of gs: `head` (the group's largest magnitude, which sets the scale)
  // first, then the values cycled through, signs random.
  auto add_groups = [&](float head, const std::vector<float>& values) {
    for (std::size_t i = 0; i < std::max<std::size_t>(values.size(), 1); i += gs - 1) {
      std::vector<float> g = {head};
      for (int j = 1; j < gs; ++j) {
        const float v = values.empty() ? 0.0f : values[(i + j - 1) % values.size()];
        g.push_back(rng() % 2 ? -v : v);
      }
      std::shuffle(g.begin(), g.end(), rng);
      groups.push_back(g);
    }
  };
  // The scales the groups are built on: powers of two (E8M0), or (nvfp4) E4M3 values,
  // some of them ties of E4M3 themselves.
  std::vector<float> scales;
  for (const int k : scale_exponents(dtype)) scales.push_back(std::ldexp(1.0f, k));
  if (mode == QuantMode::nvfp4) {
    for (const std::uint8_t c : {0x01, 0x03, 0x08, 0x39, 0x3A, 0x55, 0x6F, 0x7E}) {
      const float v = formats::Fp8E4M3::decode(c);
      scales.push_back(v);
      scales.push_back((v + formats::Fp8E4M3::decode(c + 1)) / 2);
    }
  }
  for (const float scale : scales) {
    const float head = element_max * scale;
    if (!(head <= dtype_max)) continue;
    // Ties between element values at this scale and their neighbours in dtype.
    std::vector<float> near_ties;
    for (const float tie : element_ties(mode)) {
      const float v = tie * scale;
      if (v < dtype_min) continue;
      const auto [below, above] = neighbours(v, dtype);
      near_ties.insert(near_ties.end(), {v, below, above});
    }
    add_groups(head, near_ties);
    // The largest magnitude just above and below the one that sets this scale exactly.
    const auto [below, above] = neighbours(head, dtype);
    add_groups(above, near_ties);
    add_groups(below, near_ties);
  }
  // Zeros of both signs, alone and with a small value.
  groups.push_back(std::vector<float>(gs, 0.0f));
  groups.push_back(std::vector<float>(gs, -0.0f));
  add_groups(0.0f, {-0.0f, 0.0f});
  add_groups(dtype_min, {-0.0f, 0.0f, dtype_min});
  // Subnormals of dtype (float32's for bfloat16), and the largest finite values.
  std::vector<float> subnormals;
  const float smallest_normal = dtype == Dtype::float16 ? 0x1p-14f : 0x1p-126f;
  for (float v = dtype_min; v < smallest_normal; v *= 3) subnormals.push_back(v);
  add_groups(std::nextafter(smallest_normal, 0.0f), subnormals);
  add_groups(dtype_min * 6, subnormals);
  add_groups(dtype_max, {dtype_max, -dtype_max, dtype_max / 7, 1.0f, dtype_min});
  // Values E4M3 scales (nvfp4) saturate on: amax / 6 from 448 on.
  add_groups(dtype == Dtype::float16 ? 6e4f : 1e30f, {2688.0f, 1e4f, 1.0f});
  // Non-finite values.
  add_groups(kInf, {1.0f, -kInf, 0.5f});
  add_groups(-kInf, {0.0f, 3.0f});
  add_groups(std::numeric_limits<float>::quiet_NaN(), {1.0f, -2.0f, 0.25f});
  add_groups(1.5f, {std::numeric_limits<float>::quiet_NaN(), 0.75f});
  return groups;
}

TEST(FpQuantize, CraftedGroupsAreBitExact) {
  for (const QuantMode mode : kFloatModes) {
    for (const Dtype dtype : kFloatTypes) {
      std::mt19937 rng(static_cast<std::uint32_t>(mode) * 7 + static_cast<std::uint32_t>(dtype));
      const std::vector<std::vector<float>> groups = crafted_groups(mode, dtype, rng);
      // Rows of 7 groups, shuffled, the last row completed with random ones.
      const int gs = QuantSpec::defaults(mode).group_size;
      constexpr int kRowGroups = 7;
      std::vector<std::size_t> order(groups.size());
      for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::shuffle(order.begin(), order.end(), rng);
      std::vector<float> values;
      for (const std::size_t i : order)
        values.insert(values.end(), groups[i].begin(), groups[i].end());
      std::normal_distribution<float> normal(0.0f, 1.0f);
      while (values.size() % (kRowGroups * gs) != 0) values.push_back(normal(rng));
      SCOPED_TRACE(std::to_string(groups.size()) + " crafted groups");
      expect_bit_exact(weights_of(dtype, kRowGroups * gs, values), "crafted");
    }
  }
}

}  // namespace
}  // namespace qlinear
