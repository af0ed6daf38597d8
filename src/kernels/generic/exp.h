// e^x in Simd vectors, for softmax and SiLU: libm's expf is a call per element, a third
// of a quantized-cache attention step. x = n ln2 + r with n = round(x / ln2) and
// |r| <= ln2 / 2; e^r by its Taylor series to r^7 (truncation below 1e-8 relative, so
// the error is the Horner sum's roundings, a few units in the last place); then
// e^x = e^r * 2^n. Beyond [-104, 89] e^x is 0 or infinity in float32, so x is clamped
// there first (NaN passes through the clamps).
#pragma once

namespace qlinear::kernels::generic {

template <class Simd>
typename Simd::F exp(typename Simd::F x) {
  using F = typename Simd::F;
  x = Simd::min(Simd::set1(89.0f), Simd::max(Simd::set1(-104.0f), x));
  const F n = Simd::round_even(Simd::mul(x, Simd::set1(1.44269504088896341f)));
  // ln2 in two parts: n * ln2_high is exact for |n| < 2^8, so r keeps its low bits.
  F r = Simd::fmadd(n, Simd::set1(-0.693359375f), x);
  r = Simd::fmadd(n, Simd::set1(2.12194440e-4f), r);
  F p = Simd::set1(1.0f / 5040);
  for (const float c : {1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f}) {
    p = Simd::fmadd(p, r, Simd::set1(c));
  }
  return Simd::scale_by_pow2(p, n);
}

}  // namespace qlinear::kernels::generic
