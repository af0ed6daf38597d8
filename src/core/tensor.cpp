#include "qlinear/tensor.h"

#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>

#include "core/storage.h"

namespace qlinear {
namespace {

// Reads element i of any numeric dtype as double.
double load_as_double(const void* data, Dtype dtype, std::int64_t i) {
  switch (dtype) {
    case Dtype::float32:
      return static_cast<const float*>(data)[i];
    case Dtype::float16:
      return to_float(static_cast<const float16_t*>(data)[i]);
    case Dtype::bfloat16:
      return to_float(static_cast<const bfloat16_t*>(data)[i]);
    case Dtype::float64:
      return static_cast<const double*>(data)[i];
    case Dtype::int8:
      return static_cast<const std::int8_t*>(data)[i];
    case Dtype::int16:
      return static_cast<const std::int16_t*>(data)[i];
    case Dtype::int32:
      return static_cast<const std::int32_t*>(data)[i];
    case Dtype::int64:
      return static_cast<double>(static_cast<const std::int64_t*>(data)[i]);
    case Dtype::uint8:
      return static_cast<const std::uint8_t*>(data)[i];
    case Dtype::uint16:
      return static_cast<const std::uint16_t*>(data)[i];
    case Dtype::uint32:
      return static_cast<const std::uint32_t*>(data)[i];
    case Dtype::uint64:
      return static_cast<double>(static_cast<const std::uint64_t*>(data)[i]);
    case Dtype::bool_:
      return static_cast<const std::uint8_t*>(data)[i] != 0 ? 1.0 : 0.0;
    default:
      throw std::invalid_argument("[astype] No arithmetic on " + std::string(name_of(dtype)));
  }
}

void store_from_double(void* data, Dtype dtype, std::int64_t i, double v) {
  switch (dtype) {
    case Dtype::float32:
      static_cast<float*>(data)[i] = static_cast<float>(v);
      return;
    case Dtype::float16:
      static_cast<float16_t*>(data)[i] = from_float<float16_t>(static_cast<float>(v));
      return;
    case Dtype::bfloat16:
      static_cast<bfloat16_t*>(data)[i] = from_float<bfloat16_t>(static_cast<float>(v));
      return;
    case Dtype::float64:
      static_cast<double*>(data)[i] = v;
      return;
    case Dtype::int8:
      static_cast<std::int8_t*>(data)[i] = static_cast<std::int8_t>(v);
      return;
    case Dtype::int16:
      static_cast<std::int16_t*>(data)[i] = static_cast<std::int16_t>(v);
      return;
    case Dtype::int32:
      static_cast<std::int32_t*>(data)[i] = static_cast<std::int32_t>(v);
      return;
    case Dtype::int64:
      static_cast<std::int64_t*>(data)[i] = static_cast<std::int64_t>(v);
      return;
    case Dtype::uint8:
      static_cast<std::uint8_t*>(data)[i] = static_cast<std::uint8_t>(v);
      return;
    case Dtype::uint16:
      static_cast<std::uint16_t*>(data)[i] = static_cast<std::uint16_t>(v);
      return;
    case Dtype::uint32:
      static_cast<std::uint32_t*>(data)[i] = static_cast<std::uint32_t>(v);
      return;
    case Dtype::uint64:
      static_cast<std::uint64_t*>(data)[i] = static_cast<std::uint64_t>(v);
      return;
    case Dtype::bool_:
      static_cast<std::uint8_t*>(data)[i] = v != 0.0;
      return;
    default:
      throw std::invalid_argument("[astype] No arithmetic on " + std::string(name_of(dtype)));
  }
}

}  // namespace

std::int64_t element_count(const Shape& shape) {
  // The non-zero dimensions' product must fit whatever the order, so that whether a shape
  // is accepted does not depend on where its zero is.
  std::int64_t nonzero_product = 1;
  bool empty = false;
  for (std::int64_t d : shape) {
    if (d < 0)
      throw std::invalid_argument("[Tensor] Negative dimension in shape " + shape_string(shape));
    if (d == 0) {
      empty = true;
      continue;
    }
    if (nonzero_product > std::numeric_limits<std::int64_t>::max() / d) {
      throw std::invalid_argument("[Tensor] Element count of shape " + shape_string(shape) +
                                  " overflows");
    }
    nonzero_product *= d;
  }
  return empty ? 0 : nonzero_product;
}

std::string shape_string(const Shape& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

Tensor Tensor::zeros(Shape shape, Dtype dtype) {
  Tensor t;
  t.size_ = element_count(shape);
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  auto storage = core::allocate_zeroed(t.nbytes());
  t.data_ = storage.get();
  t.owner_ = std::move(storage);
  return t;
}

Tensor Tensor::copy_of(Shape shape, Dtype dtype, const void* data) {
  Tensor t = zeros(std::move(shape), dtype);
  if (t.nbytes() > 0) std::memcpy(const_cast<void*>(t.data_), data, t.nbytes());
  return t;
}

Tensor Tensor::from_floats(Shape shape, Dtype dtype, std::span<const float> values) {
  if (dtype != Dtype::float32 && dtype != Dtype::float16 && dtype != Dtype::bfloat16) {
    throw std::invalid_argument(
        "[Tensor::from_floats] dtype must be float32, float16 or "
        "bfloat16, got " +
        std::string(name_of(dtype)));
  }
  check_values(shape, Dtype::float32, sizeof(float), values.size());
  Tensor t = zeros(std::move(shape), dtype);
  void* out = t.mutable_data();
  for (std::size_t i = 0; i < values.size(); ++i) {
    store_from_double(out, dtype, static_cast<std::int64_t>(i), values[i]);
  }
  return t;
}

Tensor Tensor::view(Shape shape, Dtype dtype, const void* data, std::shared_ptr<const void> owner) {
  if (reinterpret_cast<std::uintptr_t>(data) % size_of(dtype) != 0) {
    throw std::invalid_argument("[Tensor::view] data is not aligned to its " +
                                std::string(name_of(dtype)) + " elements");
  }
  Tensor t;
  t.size_ = element_count(shape);
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  t.data_ = data;
  t.owner_ = std::move(owner);
  t.read_only_ = true;
  return t;
}

void Tensor::check_values(const Shape& shape, Dtype dtype, std::size_t value_size,
                          std::size_t count) {
  if (value_size != size_of(dtype)) {
    throw std::invalid_argument("[Tensor] value type size " + std::to_string(value_size) +
                                " does not match dtype " + std::string(name_of(dtype)));
  }
  if (static_cast<std::int64_t>(count) != element_count(shape)) {
    throw std::invalid_argument("[Tensor] " + std::to_string(count) + " values do not fill shape " +
                                shape_string(shape));
  }
}

std::int64_t Tensor::dim(int axis) const {
  const int n = ndim();
  const int a = axis < 0 ? axis + n : axis;
  if (a < 0 || a >= n) {
    throw std::out_of_range("[Tensor::dim] axis " + std::to_string(axis) +
                            " out of range for shape " + shape_string(shape_));
  }
  return shape_[a];
}

void* Tensor::mutable_data() {
  if (read_only_) throw std::logic_error("[Tensor] cannot write to a read-only view");
  return const_cast<void*>(data_);
}

Tensor Tensor::reshape(Shape shape) const {
  if (element_count(shape) != size_) {
    throw std::invalid_argument("[reshape] Cannot reshape " + shape_string(shape_) + " to " +
                                shape_string(shape));
  }
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::copy() const {
  return copy_of(shape_, dtype_, data_);
}

Tensor Tensor::astype(Dtype dtype) const {
  if (dtype == dtype_) return copy();
  Tensor out = zeros(shape_, dtype);
  void* dst = out.mutable_data();
  for (std::int64_t i = 0; i < size_; ++i) {
    store_from_double(dst, dtype, i, load_as_double(data_, dtype_, i));
  }
  return out;
}

std::vector<float> Tensor::to_floats() const {
  std::vector<float> out(static_cast<std::size_t>(size_));
  for (std::int64_t i = 0; i < size_; ++i) {
    out[static_cast<std::size_t>(i)] = static_cast<float>(load_as_double(data_, dtype_, i));
  }
  return out;
}

bool Tensor::bit_equal(const Tensor& other) const {
  return dtype_ == other.dtype_ && shape_ == other.shape_ &&
         (nbytes() == 0 || std::memcmp(data_, other.data_, nbytes()) == 0);
}

}  // namespace qlinear
