// qlinear.load and qlinear.save_safetensors, shaped like mx.load and mx.save_safetensors.
// Loaded arrays are read-only views on the file's memory mapping where the bytes are
// stored as loaded (safetensors; GGUF's float and integer tensors), not copies.
#include <nanobind/stl/filesystem.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
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

GgufLoad load_gguf_released(const std::filesystem::path& file, bool exact) {
  nb::gil_scoped_release released;
  return load_gguf(file, GgufLoadOptions{.exact = exact});
}

nb::list report_to_python(const std::vector<GgufTensorImport>& report) {
  nb::list out;
  for (const GgufTensorImport& tensor : report) out.append(gguf_import_to_python(tensor));
  return out;
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

nb::dict gguf_import_to_python(const GgufTensorImport& tensor) {
  nb::dict row;
  row["name"] = tensor.name;
  row["type"] = tensor.type;
  row["method"] = gguf_import_method_name(tensor.method);
  row["dtype"] = numpy_dtype(tensor.dtype);
  row["bits"] = tensor.bits;
  row["exact"] = tensor.exact;
  return row;
}

void bind_io(nb::module_& m) {
  m.def(
      "load",
      [](const std::filesystem::path& file, bool return_metadata, bool exact) -> nb::object {
        if (file.extension() == kGgufExtension) {
          return arrays_and_metadata(load_gguf_released(file, exact), return_metadata);
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
      "file"_a, "return_metadata"_a = false, "exact"_a = false,
      "The arrays of a .safetensors or .gguf file by name, as mlx.core.load gives them\n"
      "(numpy arrays for mx.array; read-only views on the mapped file where the bytes are\n"
      "not converted); with return_metadata, (arrays, metadata) as mlx.core.load. exact\n"
      "(.gguf only) loads GGUF tensors without rounding, as load_gguf describes.");

  m.def(
      "load_gguf",
      [](const std::filesystem::path& file, bool exact) {
        GgufLoad loaded = load_gguf_released(file, exact);
        return nb::make_tuple(loaded.tensors, loaded.metadata, report_to_python(loaded.report));
      },
      "file"_a, "exact"_a = false,
      "(arrays, metadata, report) of a GGUF file. exact=False gives mlx.core.load's arrays;\n"
      "exact=True rounds nothing: Q4_0/Q4_1/Q5_0/Q5_1/Q8_0/Q4_K/Q5_K become affine group-32\n"
      "weights (scales and biases float16 where every one is a float16, else float32),\n"
      "Q2_K/Q3_K/Q6_K float32, BF16/I64/F64 as stored. report: one dict per tensor of the\n"
      "file (name, type, method: stored/float16/affine/dequantized, dtype, bits, exact).");

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
