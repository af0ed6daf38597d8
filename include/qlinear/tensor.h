// Tensor: a row-major, contiguous, 64-byte aligned array of one Dtype.
//
// A Tensor is a cheap handle: copies share the same storage, as MLX arrays do.
// Storage is either owned (allocated here, writable) or a read-only view onto memory
// someone else keeps alive (a memory-mapped safetensors file, say); a view is never
// copied behind the caller's back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "qlinear/dtype.h"

namespace qlinear {

using Shape = std::vector<std::int64_t>;

// Number of elements of a shape (1 for a scalar shape {}); throws on overflow.
std::int64_t element_count(const Shape& shape);
// "(2, 3, 4)" — the form error messages use.
std::string shape_string(const Shape& shape);

class Tensor {
 public:
  static constexpr std::size_t kAlignment = 64;

  // An empty handle: no storage, defined() is false.
  Tensor() = default;

  // Owned, writable storage; contents are zero.
  static Tensor zeros(Shape shape, Dtype dtype);
  // Owned copy of nbytes(shape, dtype) bytes from data.
  static Tensor copy_of(Shape shape, Dtype dtype, const void* data);
  // Owned tensor from typed values; values.size() must equal the element count.
  template <class T>
  static Tensor from_values(Shape shape, Dtype dtype, std::span<const T> values) {
    check_values(shape, dtype, sizeof(T), values.size());
    return copy_of(std::move(shape), dtype, values.data());
  }
  // Owned float tensor (float32, float16 or bfloat16) from float values, rounding to dtype.
  static Tensor from_floats(Shape shape, Dtype dtype, std::span<const float> values);
  // Read-only view on data; `owner` keeps the memory alive as long as any handle lives.
  // data must be aligned to the element size.
  static Tensor view(Shape shape, Dtype dtype, const void* data, std::shared_ptr<const void> owner);

  bool defined() const { return data_ != nullptr || owner_ != nullptr; }
  Dtype dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  // Size of axis `axis`; negative counts from the end (-1 is the last axis).
  std::int64_t dim(int axis) const;
  std::int64_t size() const { return size_; }
  std::size_t nbytes() const { return static_cast<std::size_t>(size_) * size_of(dtype_); }
  bool is_view() const { return read_only_; }
  // What keeps the storage alive (for a view, the owner it was made with).
  const std::shared_ptr<const void>& owner() const { return owner_; }

  const void* data() const { return data_; }
  template <class T>
  const T* data() const {
    return static_cast<const T*>(data_);
  }
  // Throws std::logic_error for a read-only view.
  void* mutable_data();
  template <class T>
  T* mutable_data() {
    return static_cast<T*>(mutable_data());
  }

  // Same storage, new shape with the same element count.
  Tensor reshape(Shape shape) const;
  // Owned, writable copy.
  Tensor copy() const;
  // Owned copy converted to dtype (numeric types; floats round to nearest even).
  Tensor astype(Dtype dtype) const;
  // Values as float (numeric dtypes only), for tests and reports.
  std::vector<float> to_floats() const;
  // Bitwise equality of dtype, shape and bytes.
  bool bit_equal(const Tensor& other) const;

 private:
  static void check_values(const Shape& shape, Dtype dtype, std::size_t value_size,
                           std::size_t count);

  std::shared_ptr<const void> owner_;
  const void* data_ = nullptr;
  Shape shape_;
  std::int64_t size_ = 0;
  Dtype dtype_ = Dtype::float32;
  bool read_only_ = false;
};

}  // namespace qlinear
