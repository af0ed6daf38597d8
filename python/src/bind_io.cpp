// qlinear.load and qlinear.save_safetensors, shaped like mx.load and mx.save_safetensors.
// Loaded arrays are read-only views on the file's memory mapping, not copies.
#include <nanobind/stl/filesystem.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <stdexcept>

#include "bindings.h"
#include "numpy_bridge.h"
#include "qlinear/io.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace qlinear::python {
namespace {

constexpr std::string_view kExtension = ".safetensors";

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
        if (file.extension() != kExtension) {
          throw std::invalid_argument("[load] Only safetensors files can be loaded, got '" +
                                      file.string() + "'.");
        }
        SafetensorsFile loaded;
        {
          nb::gil_scoped_release released;
          loaded = load_safetensors(file);
        }
        nb::object arrays = nb::cast(loaded.tensors);
        if (!return_metadata) return arrays;
        return nb::make_tuple(arrays, loaded.metadata);
      },
      "file"_a, "return_metadata"_a = false,
      "The arrays of a .safetensors file by name, as read-only views on the mapped file;\n"
      "with return_metadata, (arrays, metadata) as mlx.core.load.");

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
