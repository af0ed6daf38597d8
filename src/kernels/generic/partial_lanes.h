// Loads and stores of the last, partial vector of a row: the lanes past the row's end are
// a given fill value on load and left alone on store.
#pragma once

#include <algorithm>
#include <cstdint>

namespace qlinear::kernels::generic {

// The kLanes elements at p, or the count (possibly <= 0) there and fill after them.
template <class Simd, class T>
typename Simd::F load_part(const T* p, std::int64_t count, T fill) {
  if (count >= Simd::kLanes) return Simd::load(p);
  T lanes[Simd::kLanes];
  std::fill(std::copy(p, p + std::max<std::int64_t>(count, 0), lanes), lanes + Simd::kLanes, fill);
  return Simd::load(lanes);
}

// The first min(count, kLanes) lanes of v stored at p (none where count <= 0).
template <class Simd>
void store_part(float* p, typename Simd::F v, std::int64_t count) {
  if (count >= Simd::kLanes) return Simd::store(p, v);
  float lanes[Simd::kLanes];
  Simd::store(lanes, v);
  std::copy(lanes, lanes + std::max<std::int64_t>(count, 0), p);
}

}  // namespace qlinear::kernels::generic
