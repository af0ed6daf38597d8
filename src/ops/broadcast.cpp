#include "ops/broadcast.h"

#include <algorithm>

namespace qlinear::ops {

std::optional<Shape> broadcast_shapes(const Shape& a, const Shape& b) {
  const std::size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const std::int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1) return std::nullopt;
    out[i] = da == 1 ? db : da;
  }
  return out;
}

std::int64_t broadcast_offset(const Shape& shape, const Shape& out_shape, std::int64_t flat) {
  std::int64_t offset = 0;
  std::int64_t stride = 1;
  const std::size_t lead = out_shape.size() - shape.size();
  for (std::size_t i = out_shape.size(); i-- > lead;) {
    const std::int64_t index = flat % out_shape[i];
    flat /= out_shape[i];
    const std::int64_t dim = shape[i - lead];
    if (dim != 1) offset += index * stride;
    stride *= dim;
  }
  return offset;
}

}  // namespace qlinear::ops
