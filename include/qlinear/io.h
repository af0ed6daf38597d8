// safetensors files: loading as read-only views on a memory mapping, atomic saving.
#pragma once

#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>

#include "qlinear/tensor.h"

namespace qlinear {

// A file that is missing, unreadable or malformed. what() names the path and the reason.
class FileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using TensorMap = std::map<std::string, Tensor>;
using Metadata = std::map<std::string, std::string>;

struct SafetensorsFile {
  TensorMap tensors;  // views on the mapping; the mapping lives as long as any of them
  Metadata metadata;  // "__metadata__"; empty if the file has none
};

// Validates the whole header against the file size before any tensor is created.
SafetensorsFile load_safetensors(const std::filesystem::path& path);

// Writes to a temporary file in the same folder, fsyncs it and renames it over `path`:
// the old file stays intact if anything fails, and saving over a loaded file is safe.
void save_safetensors(const std::filesystem::path& path, const TensorMap& tensors,
                      const Metadata& metadata = {});

}  // namespace qlinear
