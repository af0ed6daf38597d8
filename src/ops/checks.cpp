#include "ops/checks.h"

#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace qlinear::ops {
namespace {

std::string dtype_str(const Tensor& t) {
  return std::string(name_of(t.dtype()));
}

Shape batch_shape(const Tensor& t) {
  return Shape(t.shape().begin(), t.shape().end() - 1);
}

}  // namespace

void fail(std::string_view op, const std::string& message) {
  throw std::invalid_argument("[" + std::string(op) + "] " + message);
}

void check_compute_dtype(std::string_view op, std::string_view what, const Tensor& t) {
  if (!t.defined()) fail(op, std::string(what) + " is an empty tensor handle.");
  const Dtype d = t.dtype();
  if (d != Dtype::float32 && d != Dtype::float16 && d != Dtype::bfloat16) {
    fail(op, "Only float32, float16 and bfloat16 are supported for " + std::string(what) +
                 " but it has type " + dtype_str(t) + ".");
  }
}

std::int64_t check_packed(std::string_view op, const QuantSpec& spec, const Tensor& wq,
                          const Tensor& scales, const std::optional<Tensor>& biases) {
  if (!wq.defined()) fail(op, "The weight matrix is an empty tensor handle.");
  if (wq.dtype() != Dtype::uint32) {
    fail(op, "The weight matrix should be uint32 but received " + dtype_str(wq) + ".");
  }
  if (wq.ndim() < 2) {
    fail(op, "The weight matrix must have at least 2 dimensions but has shape " +
                 shape_string(wq.shape()) + ".");
  }
  if (spec.traits().affine_scales) {
    check_compute_dtype(op, "scales", scales);
    if (!biases) fail(op, "Biases must be provided for affine quantization.");
    if (biases->dtype() != scales.dtype() || biases->shape() != scales.shape()) {
      fail(op,
           "Scales and biases should have the same shape and dtype. Received scales with "
           "shape " +
               shape_string(scales.shape()) + " and dtype " + dtype_str(scales) +
               ", biases with shape " + shape_string(biases->shape()) + " and dtype " +
               dtype_str(*biases) + ".");
    }
  } else {
    if (biases)
      fail(op,
           "Biases are only used in affine mode, not " + std::string(mode_name(spec.mode)) + ".");
    if (scales.dtype() != Dtype::uint8) {
      fail(op, "Scales must be uint8 in " + std::string(mode_name(spec.mode)) +
                   " mode but have type " + dtype_str(scales) + ".");
    }
  }
  if (batch_shape(wq) != batch_shape(scales)) {
    fail(op, "Weight and scales should have the same batch shape. Received weight with shape " +
                 shape_string(wq.shape()) + " and scales with shape " +
                 shape_string(scales.shape()) + ".");
  }
  const std::int64_t codes = spec.codes_in(wq.dim(-1));
  if (spec.packed_words(codes) != wq.dim(-1) || spec.groups(codes) != scales.dim(-1) ||
      codes % spec.group_size != 0) {
    fail(op,
         "The shapes of the weight and scales are incompatible based on bits and "
         "group_size. w.shape() == " +
             shape_string(wq.shape()) + " and scales.shape() == " + shape_string(scales.shape()) +
             " with group_size=" + std::to_string(spec.group_size) +
             " and bits=" + std::to_string(spec.bits) + ".");
  }
  return codes;
}

const float* check_global_scale(std::string_view op, const QuantSpec& spec,
                                const std::optional<Tensor>& global_scale) {
  if (!global_scale) return nullptr;
  if (spec.mode != QuantMode::nvfp4) {
    fail(op, "A global scale is only supported in nvfp4 mode, not " +
                 std::string(mode_name(spec.mode)) + ".");
  }
  if (!global_scale->defined()) fail(op, "The global scale is an empty tensor handle.");
  if (global_scale->size() != 1) {
    fail(op, "The global scale must be a scalar but has shape " +
                 shape_string(global_scale->shape()) + ".");
  }
  if (global_scale->dtype() != Dtype::float32) {
    fail(op, "The global scale must be float32 but has type " + dtype_str(*global_scale) + ".");
  }
  const float* g = global_scale->data<float>();
  if (!std::isfinite(*g) || *g == 0.0f) {
    std::ostringstream value;
    value << *g;
    fail(op, "The global scale must be finite and non-zero but is " + value.str() + ".");
  }
  return g;
}

namespace {

template <class T>
std::vector<std::int64_t> values_as(const Tensor& t) {
  const T* p = t.data<T>();
  return std::vector<std::int64_t>(p, p + t.size());
}

}  // namespace

std::vector<std::int64_t> index_values(std::string_view op, const Tensor& t) {
  switch (t.dtype()) {
    case Dtype::int8:
      return values_as<std::int8_t>(t);
    case Dtype::int16:
      return values_as<std::int16_t>(t);
    case Dtype::int32:
      return values_as<std::int32_t>(t);
    case Dtype::int64:
      return values_as<std::int64_t>(t);
    case Dtype::uint8:
      return values_as<std::uint8_t>(t);
    case Dtype::uint16:
      return values_as<std::uint16_t>(t);
    case Dtype::uint32:
      return values_as<std::uint32_t>(t);
    case Dtype::uint64: {
      std::vector<std::int64_t> v(static_cast<std::size_t>(t.size()));
      const std::uint64_t* p = t.data<std::uint64_t>();
      for (std::size_t i = 0; i < v.size(); ++i) {
        v[i] =
            p[i] > std::numeric_limits<std::int64_t>::max() ? -1 : static_cast<std::int64_t>(p[i]);
      }
      return v;
    }
    default:
      fail(op, "Got indices with invalid dtype. Indices must be integral.");
  }
}

}  // namespace qlinear::ops
