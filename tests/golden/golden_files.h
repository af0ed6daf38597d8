// The MLX-produced golden vectors in tests/data/golden (see the README there).
#pragma once

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "qlinear/io.h"
#include "qlinear/ops.h"

namespace qlinear::testing {

inline std::filesystem::path golden_dir() {
  return std::filesystem::path(QLINEAR_TEST_DATA) / "golden";
}

// Stems ("affine_b4_g64_f32") of the golden files whose name starts with prefix, sorted;
// in a subdirectory ("mlx-0.32.4") the stems start with it ("mlx-0.32.4/gather_...").
inline std::vector<std::string> golden_files(const std::string& prefix,
                                             const std::string& subdir = "") {
  std::vector<std::string> stems;
  for (const auto& entry : std::filesystem::directory_iterator(golden_dir() / subdir)) {
    const std::string stem = entry.path().stem().string();
    if (entry.path().extension() == ".safetensors" && stem.rfind(prefix, 0) == 0) {
      stems.push_back(subdir.empty() ? stem : subdir + "/" + stem);
    }
  }
  std::sort(stems.begin(), stems.end());
  return stems;
}

struct GoldenFile {
  SafetensorsFile file;
  QuantSpec spec;

  explicit GoldenFile(const std::string& stem)
      : file(load_safetensors(golden_dir() / (stem + ".safetensors"))) {
    spec.mode = parse_quant_mode(file.metadata.at("mode"), "golden");
    spec.bits = std::stoi(file.metadata.at("bits"));
    spec.group_size = std::stoi(file.metadata.at("group_size"));
  }
  const Tensor& operator[](const std::string& name) const { return file.tensors.at(name); }
  bool has(const std::string& name) const { return file.tensors.count(name) != 0; }
  std::optional<Tensor> maybe(const std::string& name) const {
    return has(name) ? std::optional<Tensor>(file.tensors.at(name)) : std::nullopt;
  }
};

}  // namespace qlinear::testing
