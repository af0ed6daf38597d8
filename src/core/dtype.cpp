#include "qlinear/dtype.h"

#include <stdexcept>
#include <string>

namespace qlinear {

std::size_t size_of(Dtype dtype) {
  switch (dtype) {
    case Dtype::float64:
    case Dtype::int64:
    case Dtype::uint64:
      return 8;
    case Dtype::float32:
    case Dtype::int32:
    case Dtype::uint32:
      return 4;
    case Dtype::float16:
    case Dtype::bfloat16:
    case Dtype::int16:
    case Dtype::uint16:
      return 2;
    case Dtype::int8:
    case Dtype::uint8:
    case Dtype::bool_:
    case Dtype::float8_e4m3:
    case Dtype::float8_e5m2:
    case Dtype::float8_e8m0:
      return 1;
  }
  throw std::logic_error("size_of: unknown dtype");
}

std::string_view name_of(Dtype dtype) {
  switch (dtype) {
    case Dtype::float32:
      return "float32";
    case Dtype::float16:
      return "float16";
    case Dtype::bfloat16:
      return "bfloat16";
    case Dtype::float64:
      return "float64";
    case Dtype::int8:
      return "int8";
    case Dtype::int16:
      return "int16";
    case Dtype::int32:
      return "int32";
    case Dtype::int64:
      return "int64";
    case Dtype::uint8:
      return "uint8";
    case Dtype::uint16:
      return "uint16";
    case Dtype::uint32:
      return "uint32";
    case Dtype::uint64:
      return "uint64";
    case Dtype::bool_:
      return "bool";
    case Dtype::float8_e4m3:
      return "float8_e4m3";
    case Dtype::float8_e5m2:
      return "float8_e5m2";
    case Dtype::float8_e8m0:
      return "float8_e8m0";
  }
  throw std::logic_error("name_of: unknown dtype");
}

bool is_floating(Dtype dtype) {
  return dtype == Dtype::float32 || dtype == Dtype::float16 || dtype == Dtype::bfloat16 ||
         dtype == Dtype::float64;
}

Dtype promote_types(Dtype a, Dtype b) {
  if (!is_floating(a) || !is_floating(b)) {
    throw std::invalid_argument("[promote_types] Only floating types promote here, got " +
                                std::string(name_of(a)) + " and " + std::string(name_of(b)));
  }
  if (a == b) return a;
  if (a == Dtype::float64 || b == Dtype::float64) return Dtype::float64;
  return Dtype::float32;  // f32 with anything, and bf16 with f16
}

}  // namespace qlinear
