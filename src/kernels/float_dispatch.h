// Turns a run-time float Dtype into a template argument: the one switch the kernels use.
#pragma once

#include <stdexcept>
#include <string>

#include "qlinear/dtype.h"

namespace qlinear::kernels {

// Calls fn(T{}) with T = float, float16_t or bfloat16_t.
template <class Fn>
decltype(auto) with_float_type(Dtype dtype, Fn&& fn) {
  switch (dtype) {
    case Dtype::float32:
      return fn(float{});
    case Dtype::float16:
      return fn(float16_t{});
    case Dtype::bfloat16:
      return fn(bfloat16_t{});
    default:
      throw std::logic_error("kernel called with non-float dtype " + std::string(name_of(dtype)));
  }
}

}  // namespace qlinear::kernels
