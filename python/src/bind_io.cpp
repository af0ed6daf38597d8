// qlinear.load and qlinear.save_safetensors, shaped like mx.load and mx.save_safetensors.
// Loaded arrays are read-only views on the file's memory mapping where the bytes are
// stored as loaded (safetensors; GGUF's float and integer tensors), not copies.
#include <nanobind/stl/filesystem.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/variant.h>
#include <nanobind/stl/vector.h>

#include <stdexcept>

#include "bindings.h"
#include "numpy_bridge.h"
#include "qlinear/gguf.h"
#include "qlinear/io.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace qlinear::python {
namespace {

constexpr std::string_view kExtension = ".safetensors";
constexpr std::string_view kGgufExtension = ".gguf";

template <typename Loaded>
nb::object arrays_and_metadata(const Loaded& loaded, bool return_metadata) {
  nb::object arrays = nb::cast(loaded.tensors);
  if (!return_metadata) return arrays;
  return nb::make_tuple(arrays, loaded.metadata);
}

Metadata metadata_from_python(const std::optional<nb::dict>& metadata) {
  Metadata result;
  if (!metadata) return result;
  for (auto [key, value] : *metadata) {
    if (!nb::isinstance<nb::str>(key) || !nb::isinstance<nb::str>(value)) {
      throw std::invalid_argument(
          "[save_safetensors] Metadata must be a dictionary with string keys and values.");
    }
    result.emplace(nb::cast<std::string>(key), nb::cast<std::string>(value));
  }
  return result;
}

}  // namespace

void bind_io(nb::module_& m) {
  m.def(
      "load",
      [](const std::filesystem::path& file, bool return_metadata) -> nb::object {
        if (file.extension() == kGgufExtension) {
          GgufLoad loaded;
          {
            nb::gil_scoped_release released;
            loaded = load_gguf(file);
          }
          return arrays_and_metadata(loaded, return_metadata);
        }
        if (file.extension() != kExtension) {
          throw std::invalid_argument(
              "[load] Only safetensors and gguf files can be loaded, got '" + file.string() + "'.");
        }
        SafetensorsFile loaded;
        {
          nb::gil_scoped_release released;
          loaded = load_safetensors(file);
        }
        return arrays_and_metadata(loaded, return_metadata);
      },
      "file"_a, "return_metadata"_a = false,
      "The arrays of a .safetensors or .gguf file by name, as mlx.core.load gives them\n"
      "(numpy arrays for mx.array; read-only views on the mapped file where the bytes are\n"
      "not converted); with return_metadata, (arrays, metadata) as mlx.core.load.");

  m.def(
      "save_safetensors",
      [](std::filesystem::path file, const TensorMap& arrays,
         const std::optional<nb::dict>& metadata) {
        if (file.extension() != kExtension) file += kExtension;  // as MLX does
        const Metadata checked = metadata_from_python(metadata);
        nb::gil_scoped_release released;
        save_safetensors(file, arrays, checked);
      },
      "file"_a, "arrays"_a, "metadata"_a = nb::none(),
      "Writes the arrays (a dict of name -> array) atomically; appends '.safetensors'\n"
      "to a file name without it, as mlx.core.save_safetensors.");
}

}  // namespace qlinear::python
