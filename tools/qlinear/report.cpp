#include "report.h"

#include <cmath>
#include <cstdio>

namespace qlinear::cli {

std::string format_bytes(std::uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.2f %s", value, kUnits[unit]);
  return text;
}

double relative_rms_error(const Tensor& reference, const Tensor& approximation) {
  const auto a = reference.to_floats();
  const auto b = approximation.to_floats();
  double error = 0, norm = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    error += d * d;
    norm += static_cast<double>(a[i]) * a[i];
  }
  if (norm == 0) return error == 0 ? 0.0 : INFINITY;
  return std::sqrt(error / norm);
}

}  // namespace qlinear::cli
