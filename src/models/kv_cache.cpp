#include <algorithm>
#include <stdexcept>

#include "qlinear/lm.h"

namespace qlinear::lm {

void KVCache::update(const Tensor& keys, const Tensor& values) {
  const std::int64_t heads = keys.dim(1), T = keys.dim(2), D = keys.dim(3);
  if (keys.shape() != values.shape() || keys.dim(0) != 1 ||
      (keys_.defined() && (keys_.dim(1) != heads || keys_.dim(3) != D))) {
    throw std::invalid_argument("[KVCache] keys " + shape_string(keys.shape()) + " and values " +
                                shape_string(values.shape()) + " do not fit the cache.");
  }
  const std::int64_t needed = offset_ + T;
  if (!keys_.defined() || needed > keys_.dim(2)) {
    // Room in whole steps of kStep positions, the stored ones copied over.
    const std::int64_t capacity = (needed + kStep - 1) / kStep * kStep;
    Tensor new_keys = Tensor::zeros({1, heads, capacity, D}, Dtype::float32);
    Tensor new_values = Tensor::zeros({1, heads, capacity, D}, Dtype::float32);
    if (keys_.defined()) {
      const std::int64_t old = keys_.dim(2);
      for (std::int64_t h = 0; h < heads; ++h) {
        std::copy_n(keys_.data<float>() + h * old * D, offset_ * D,
                    new_keys.mutable_data<float>() + h * capacity * D);
        std::copy_n(values_.data<float>() + h * old * D, offset_ * D,
                    new_values.mutable_data<float>() + h * capacity * D);
      }
    }
    keys_ = std::move(new_keys);
    values_ = std::move(new_values);
  }
  const std::int64_t capacity = keys_.dim(2);
  for (std::int64_t h = 0; h < heads; ++h) {
    std::copy_n(keys.data<float>() + h * T * D, T * D,
                keys_.mutable_data<float>() + (h * capacity + offset_) * D);
    std::copy_n(values.data<float>() + h * T * D, T * D,
                values_.mutable_data<float>() + (h * capacity + offset_) * D);
  }
  offset_ = needed;
}

}  // namespace qlinear::lm
