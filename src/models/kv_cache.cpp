#include <algorithm>
#include <stdexcept>
#include <string>
#include <string_view>

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

namespace qlinear::lm {
namespace {

constexpr std::string_view kQuantizedCache = "QuantizedKVCache";

// dst's rows [at, at + rows) of each head from src's rows [0, rows): both (1, heads, *, w).
void copy_rows(const Tensor& src, Tensor& dst, std::int64_t rows, std::int64_t at) {
  const std::int64_t heads = src.dim(1), width = src.dim(3);
  const std::size_t row_bytes = static_cast<std::size_t>(width) * size_of(src.dtype());
  const auto* from = static_cast<const char*>(src.data());
  auto* to = static_cast<char*>(dst.mutable_data());
  for (std::int64_t h = 0; h < heads; ++h) {
    std::copy_n(from + h * src.dim(2) * row_bytes, rows * row_bytes,
                to + (h * dst.dim(2) + at) * row_bytes);
  }
}

// The same tensor with room for `capacity` positions, the first `keep` copied over.
Tensor regrown(const Tensor& t, std::int64_t capacity, std::int64_t keep) {
  Tensor out = Tensor::zeros({t.dim(0), t.dim(1), capacity, t.dim(3)}, t.dtype());
  copy_rows(t, out, keep, 0);
  return out;
}

void regrow(Quantized& q, std::int64_t capacity, std::int64_t keep) {
  q.wq = regrown(q.wq, capacity, keep);
  q.scales = regrown(q.scales, capacity, keep);
  q.biases = regrown(*q.biases, capacity, keep);
}

Quantized empty_quantized(std::int64_t heads, std::int64_t capacity, std::int64_t dims,
                          const QuantSpec& spec) {
  const std::int64_t groups = dims / spec.group_size;
  return {Tensor::zeros({1, heads, capacity, spec.packed_words(dims)}, Dtype::uint32),
          Tensor::zeros({1, heads, capacity, groups}, Dtype::float32),
          Tensor::zeros({1, heads, capacity, groups}, Dtype::float32)};
}

void store(const Quantized& src, Quantized& dst, std::int64_t at) {
  const std::int64_t rows = src.wq.dim(2);
  copy_rows(src.wq, dst.wq, rows, at);
  copy_rows(src.scales, dst.scales, rows, at);
  copy_rows(*src.biases, *dst.biases, rows, at);
}

std::size_t nbytes_of(const Quantized& q) {
  return q.wq.defined() ? q.wq.nbytes() + q.scales.nbytes() + q.biases->nbytes() : 0;
}

}  // namespace

QuantizedKVCache::QuantizedKVCache(int group_size, int bits)
    : group_size_(group_size), bits_(bits) {
  QuantSpec::resolve(kQuantizedCache, QuantMode::affine, group_size, bits);
}

QuantizedKVCache QuantizedKVCache::from_float(const KVCache& cache, int group_size, int bits) {
  QuantizedKVCache out(group_size, bits);
  out.offset_ = cache.offset();
  if (cache.keys().defined()) {
    out.keys_ = quantize(cache.keys(), group_size, bits);
    out.values_ = quantize(cache.values(), group_size, bits);
  }
  return out;
}

void QuantizedKVCache::update(const Tensor& keys, const Tensor& values) {
  const std::int64_t heads = keys.dim(1), T = keys.dim(2), D = keys.dim(3);
  const QuantSpec spec{group_size_, bits_, QuantMode::affine};
  if (keys.shape() != values.shape() || keys.dim(0) != 1 || D % group_size_ != 0 ||
      (keys_.wq.defined() &&
       (keys_.wq.dim(1) != heads || keys_.wq.dim(3) != spec.packed_words(D)))) {
    throw std::invalid_argument(
        "[" + std::string(kQuantizedCache) + "] keys " + shape_string(keys.shape()) +
        " and values " + shape_string(values.shape()) + " do not fit the cache (group size " +
        std::to_string(group_size_) + ").");
  }
  const std::int64_t steps = (T + kStep - 1) / kStep * kStep;
  if (!keys_.wq.defined()) {
    keys_ = empty_quantized(heads, steps, D, spec);
    values_ = empty_quantized(heads, steps, D, spec);
  } else if (offset_ + T > keys_.wq.dim(2)) {
    // As mlx-lm: a partly filled cache is cut to its offset before the steps are added.
    const std::int64_t kept = offset_ % kStep != 0 ? offset_ : keys_.wq.dim(2);
    regrow(keys_, kept + steps, offset_);
    regrow(values_, kept + steps, offset_);
  }
  store(quantize(keys, group_size_, bits_), keys_, offset_);
  store(quantize(values, group_size_, bits_), values_, offset_);
  offset_ += T;
}

std::size_t QuantizedKVCache::nbytes() const {
  return nbytes_of(keys_) + nbytes_of(values_);
}

std::int64_t LayerCache::offset() const {
  return std::visit([](const auto& c) { return c.offset(); }, cache_);
}

std::size_t LayerCache::nbytes() const {
  return std::visit([](const auto& c) { return c.nbytes(); }, cache_);
}

void LayerCache::quantize(int group_size, int bits) {
  if (const KVCache* c = float_cache()) {
    cache_ = QuantizedKVCache::from_float(*c, group_size, bits);
  }
}

void maybe_quantize_kv_cache(Cache& cache, std::int64_t quantized_kv_start, int kv_group_size,
                             std::optional<int> kv_bits) {
  if (!kv_bits) return;
  for (LayerCache& layer : cache) {
    if (layer.offset() >= quantized_kv_start) layer.quantize(kv_group_size, *kv_bits);
  }
}

}  // namespace qlinear::lm
