// The MLX-produced golden vectors in tests/data/golden (see the README there): those of
// the older MLX commit, and in mlx-0.32.4/ those of the released MLX that qlinear matches.
#pragma once

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <string>
#include <vector>

#include "qlinear/io.h"
#include "qlinear/ops.h"

namespace qlinear::testing {

inline std::filesystem::path golden_dir() {
  return std::filesystem::path(QLINEAR_TEST_DATA) / "golden";
}

// Where the release's files are, relative to golden_dir().
inline const std::string kRelease = "mlx-0.32.4/";

// Stems ("affine_b4_g64_f32", "mlx-0.32.4/affine_b1_g64_f32") of the golden files whose
// name starts with prefix, sorted; a prefix starting with kRelease looks in its folder.
inline std::vector<std::string> golden_files(const std::string& prefix) {
  const std::string folder = prefix.rfind(kRelease, 0) == 0 ? kRelease : "";
  const std::string name_prefix = prefix.substr(folder.size());
  std::vector<std::string> stems;
  for (const auto& entry : std::filesystem::directory_iterator(golden_dir() / folder)) {
    const std::string stem = entry.path().stem().string();
    if (entry.path().extension() == ".safetensors" && stem.rfind(name_prefix, 0) == 0) {
      stems.push_back(folder + stem);
    }
  }
  std::sort(stems.begin(), stems.end());
  return stems;
}

// A stem as a test name: "mlx-0.32.4/mxfp4_g32_b4_f32" -> "mlx_0_32_4_mxfp4_g32_b4_f32".
inline std::string test_name(std::string stem) {
  for (char& c : stem) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return stem;
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
