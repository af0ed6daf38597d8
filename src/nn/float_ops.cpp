#include "nn/float_ops.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/float_dispatch.h"
#include "qlinear/nn/layers.h"

namespace qlinear::nn {
namespace {

std::mt19937& generator() {
  static std::mt19937 engine(0);
  return engine;
}

[[noreturn]] void fail(std::string_view op, const std::string& message) {
  throw std::invalid_argument("[" + std::string(op) + "] " + message);
}

template <class T>
void store_floats(const std::vector<float>& values, Tensor& out) {
  T* dst = out.mutable_data<T>();
  for (std::size_t i = 0; i < values.size(); ++i) dst[i] = from_float<T>(values[i]);
}

Tensor from_float32(Shape shape, Dtype dtype, const std::vector<float>& values) {
  Tensor out = Tensor::zeros(std::move(shape), dtype);
  kernels::with_float_type(dtype, [&](auto tag) { store_floats<decltype(tag)>(values, out); });
  return out;
}

std::int64_t id_at(const Tensor& ids, std::int64_t i) {
  switch (ids.dtype()) {
    case Dtype::int8:
      return ids.data<std::int8_t>()[i];
    case Dtype::int16:
      return ids.data<std::int16_t>()[i];
    case Dtype::int32:
      return ids.data<std::int32_t>()[i];
    case Dtype::int64:
      return ids.data<std::int64_t>()[i];
    case Dtype::uint8:
      return ids.data<std::uint8_t>()[i];
    case Dtype::uint16:
      return ids.data<std::uint16_t>()[i];
    case Dtype::uint32:
      return ids.data<std::uint32_t>()[i];
    case Dtype::uint64:
      return static_cast<std::int64_t>(ids.data<std::uint64_t>()[i]);
    default:
      throw std::logic_error("id_at on a non-integer tensor");
  }
}

bool is_integer(Dtype dtype) {
  return !is_floating(dtype) && dtype != Dtype::bool_ && dtype != Dtype::float8_e4m3 &&
         dtype != Dtype::float8_e5m2 && dtype != Dtype::float8_e8m0;
}

}  // namespace

void seed(std::uint32_t value) {
  generator().seed(value);
}

namespace detail {

Tensor add_bias(const Tensor& y, const Tensor& bias) {
  std::vector<float> values = y.to_floats();
  const std::vector<float> bs = bias.to_floats();
  for (std::size_t i = 0; i < values.size(); ++i) values[i] += bs[i % bs.size()];
  return from_float32(y.shape(), promote_types(y.dtype(), bias.dtype()), values);
}

Tensor take_rows(std::string_view op, const Tensor& table, const Tensor& ids) {
  if (!is_integer(ids.dtype())) {
    fail(op, "ids must be an integer tensor, got " + std::string(name_of(ids.dtype())) + ".");
  }
  const std::int64_t rows = table.dim(0);
  const std::size_t row_bytes =
      table.nbytes() / static_cast<std::size_t>(std::max<std::int64_t>(rows, 1));
  Shape shape = ids.shape();
  shape.insert(shape.end(), table.shape().begin() + 1, table.shape().end());
  Tensor out = Tensor::zeros(std::move(shape), table.dtype());
  auto* dst = static_cast<char*>(out.mutable_data());
  const auto* src = static_cast<const char*>(table.data());
  for (std::int64_t i = 0; i < ids.size(); ++i) {
    const std::int64_t id = id_at(ids, i);
    if (id < 0 || id >= rows) {
      fail(op, "id " + std::to_string(id) + " at position " + std::to_string(i) +
                   " is out of range for " + std::to_string(rows) + " rows.");
    }
    std::copy_n(src + id * row_bytes, row_bytes, dst + i * row_bytes);
  }
  return out;
}

void check_layer_tensors(std::string_view op, const Tensor& weight, const Tensor* bias) {
  if (weight.ndim() != 2 || !is_floating(weight.dtype())) {
    fail(op, "weight must be a 2-D floating point tensor, got " +
                 std::string(name_of(weight.dtype())) + " with shape " +
                 shape_string(weight.shape()) + ".");
  }
  if (bias && (bias->ndim() != 1 || bias->dim(0) != weight.dim(0) || !is_floating(bias->dtype()))) {
    fail(op, "bias must be a floating point vector of " + std::to_string(weight.dim(0)) +
                 " elements, got " + std::string(name_of(bias->dtype())) + " with shape " +
                 shape_string(bias->shape()) + ".");
  }
}

Tensor uniform(Shape shape, float low, float high) {
  std::uniform_real_distribution<float> distribution(low, high);
  std::vector<float> values(static_cast<std::size_t>(element_count(shape)));
  for (float& v : values) v = distribution(generator());
  return Tensor::from_floats(std::move(shape), Dtype::float32, values);
}

Tensor normal(Shape shape, float stddev) {
  std::normal_distribution<float> distribution(0.0f, stddev);
  std::vector<float> values(static_cast<std::size_t>(element_count(shape)));
  for (float& v : values) v = distribution(generator());
  return Tensor::from_floats(std::move(shape), Dtype::float32, values);
}

}  // namespace detail
}  // namespace qlinear::nn
