#include "report.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "qlinear/io.h"

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

WorkFolder::WorkFolder(const std::string& keep, const std::string& prefix)
    : path_(keep), temporary_(keep.empty()) {
  if (temporary_) {
    std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (!::mkdtemp(pattern.data())) throw FileError("cannot create a temporary folder");
    path_ = pattern;
  } else {
    std::filesystem::create_directories(path_);
  }
}

WorkFolder::~WorkFolder() {
  std::error_code ignored;
  if (temporary_) std::filesystem::remove_all(path_, ignored);
}

}  // namespace qlinear::cli
