// Small formatting helpers shared by the subcommands' reports.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "qlinear/tensor.h"

namespace qlinear::cli {

// "1.50 MiB", "812 B".
std::string format_bytes(std::uint64_t bytes);

// sqrt(sum (a - b)^2 / sum a^2) over all elements; 0 when a is all zeros and b equals it.
double relative_rms_error(const Tensor& reference, const Tensor& approximation);

// The folder a command writes its models in: `keep` (created if needed, kept), or when
// `keep` is empty a new temporary folder "<prefix>-XXXXXX", removed with this object.
class WorkFolder {
 public:
  WorkFolder(const std::string& keep, const std::string& prefix);
  ~WorkFolder();
  WorkFolder(const WorkFolder&) = delete;
  WorkFolder& operator=(const WorkFolder&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  bool temporary_;
};

}  // namespace qlinear::cli
