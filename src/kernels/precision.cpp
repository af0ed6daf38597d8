// The process-wide matmul precision setting (qlinear/runtime.h).
#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "qlinear/runtime.h"

namespace qlinear {
namespace {

MatmulPrecision default_precision() {
  const char* env = std::getenv("QLINEAR_MATMUL_PRECISION");
  if (env == nullptr || *env == '\0') return MatmulPrecision::exact;
  return parse_matmul_precision(env);
}

std::atomic<MatmulPrecision>& current() {
  static std::atomic<MatmulPrecision> precision{default_precision()};
  return precision;
}

}  // namespace

MatmulPrecision matmul_precision() {
  return current().load(std::memory_order_relaxed);
}

void set_matmul_precision(MatmulPrecision precision) {
  current().store(precision, std::memory_order_relaxed);
}

std::string_view to_string(MatmulPrecision precision) {
  switch (precision) {
    case MatmulPrecision::bfloat16:
      return "bfloat16";
    case MatmulPrecision::int8:
      return "int8";
    default:
      return "exact";
  }
}

MatmulPrecision parse_matmul_precision(std::string_view name) {
  for (auto p : {MatmulPrecision::exact, MatmulPrecision::bfloat16, MatmulPrecision::int8}) {
    if (name == to_string(p)) return p;
  }
  throw std::invalid_argument("[qlinear] unknown matmul precision '" + std::string(name) +
                              "'; expected exact, bfloat16 or int8");
}

}  // namespace qlinear
