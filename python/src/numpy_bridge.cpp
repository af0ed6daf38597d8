#include "numpy_bridge.h"

#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>

#include <array>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace nb = nanobind;

namespace qlinear::python {
namespace {

using InputArray = nb::ndarray<nb::ro, nb::c_contig, nb::device::cpu>;

// The dtypes numpy lacks: their ml_dtypes name and the unsigned integer holding their bits.
struct ForeignDtype {
  Dtype dtype;
  const char* ml_dtypes_name;
  const char* raw_name;
};
constexpr std::array<ForeignDtype, 4> kForeignDtypes{{
    {Dtype::bfloat16, "bfloat16", "uint16"},
    {Dtype::float8_e4m3, "float8_e4m3fn", "uint8"},
    {Dtype::float8_e5m2, "float8_e5m2", "uint8"},
    {Dtype::float8_e8m0, "float8_e8m0fnu", "uint8"},
}};

constexpr std::array<Dtype, 12> kNativeDtypes{
    Dtype::float32, Dtype::float16, Dtype::float64, Dtype::int8,  Dtype::int16,  Dtype::int32,
    Dtype::int64,   Dtype::uint8,   Dtype::uint16,  Dtype::uint32, Dtype::uint64, Dtype::bool_};

constexpr std::size_t kDtypeCount = static_cast<std::size_t>(Dtype::float8_e8m0) + 1;

// The metadata key that marks raw bits as a foreign dtype when ml_dtypes is missing.
constexpr const char* kTagKey = "qlinear";

// Python objects looked up once at import. Deliberately never freed: they must outlive
// every Tensor, and the interpreter reclaims them at exit anyway.
struct Numpy {
  nb::module_ np;
  nb::object ndarray_type;
  bool has_ml_dtypes = false;
  // numpy dtype objects, indexed by Dtype.
  std::array<nb::object, kDtypeCount> dtypes;
};
Numpy* numpy = nullptr;

const ForeignDtype* foreign(Dtype dtype) {
  for (const ForeignDtype& f : kForeignDtypes) {
    if (f.dtype == dtype) return &f;
  }
  return nullptr;
}

// The foreign dtype a numpy dtype stands for: by ml_dtypes name or by our metadata tag.
const ForeignDtype* foreign(nb::handle np_dtype) {
  const std::string name = nb::cast<std::string>(np_dtype.attr("name"));
  nb::object metadata = np_dtype.attr("metadata");
  nb::object tag = metadata.is_none() ? nb::none() : metadata.attr("get")(kTagKey);
  for (const ForeignDtype& f : kForeignDtypes) {
    if (name == f.ml_dtypes_name || (!tag.is_none() && nb::cast<std::string>(tag) == name_of(f.dtype))) {
      return &f;
    }
  }
  return nullptr;
}

// How a Tensor of `dtype` lies in memory for numpy: foreign dtypes as unsigned integers.
nb::dlpack::dtype storage_dtype(Dtype dtype) {
  using Code = nb::dlpack::dtype_code;
  const Code code = dtype == Dtype::bool_                                    ? Code::Bool
                    : is_floating(dtype) && !foreign(dtype)                  ? Code::Float
                    : foreign(dtype) || name_of(dtype).starts_with("uint")   ? Code::UInt
                                                                             : Code::Int;
  return {static_cast<std::uint8_t>(code), static_cast<std::uint8_t>(8 * size_of(dtype)), 1};
}

std::optional<Dtype> native_dtype(nb::dlpack::dtype dt) {
  for (Dtype d : kNativeDtypes) {
    if (storage_dtype(d) == dt) return d;
  }
  return std::nullopt;
}

// Keeps `array` (and so the numpy array it came from) alive for as long as a Tensor
// handle uses its memory; the last handle may go away on a thread without the GIL.
std::shared_ptr<const void> keep_alive(const InputArray& array) {
  return std::shared_ptr<const void>(new InputArray(array), [](const void* p) {
    if (!Py_IsInitialized()) return;  // the interpreter and its objects are already gone
    nb::gil_scoped_acquire gil;
    delete static_cast<const InputArray*>(p);
  });
}

Shape shape_of(const InputArray& array) {
  Shape shape(array.ndim());
  for (std::size_t i = 0; i < array.ndim(); ++i) shape[i] = static_cast<std::int64_t>(array.shape(i));
  return shape;
}

}  // namespace

void init_numpy_bridge(nb::module_& m) {
  numpy = new Numpy{nb::module_::import_("numpy"), {}, false, {}};
  numpy->ndarray_type = numpy->np.attr("ndarray");
  nb::object ml_dtypes;
  try {
    ml_dtypes = nb::module_::import_("ml_dtypes");
    numpy->has_ml_dtypes = true;
  } catch (const nb::python_error&) {
    // Optional: without it the foreign dtypes travel as tagged raw bits.
  }
  for (Dtype d : kNativeDtypes) {
    numpy->dtypes[static_cast<std::size_t>(d)] = numpy->np.attr("dtype")(name_of(d));
  }
  for (const ForeignDtype& f : kForeignDtypes) {
    nb::dict tag;
    tag[kTagKey] = std::string(name_of(f.dtype));
    numpy->dtypes[static_cast<std::size_t>(f.dtype)] =
        numpy->has_ml_dtypes
            ? numpy->np.attr("dtype")(ml_dtypes.attr(f.ml_dtypes_name))
            : numpy->np.attr("dtype")(f.raw_name, nb::arg("metadata") = tag);
  }
  m.attr("bfloat16") = numpy_dtype(Dtype::bfloat16);
  m.attr("BFLOAT16_AS_UINT16") = !numpy->has_ml_dtypes;
}

std::optional<Tensor> tensor_from_numpy(nb::handle obj, bool convert) {
  nb::object array = nb::borrow(obj);
  if (!nb::isinstance(array, numpy->ndarray_type)) {
    if (!convert) return std::nullopt;
    array = numpy->np.attr("asarray")(array);
  }
  std::optional<Dtype> dtype;
  nb::object np_dtype = array.attr("dtype");
  if (const ForeignDtype* f = foreign(np_dtype)) {
    dtype = f->dtype;
    array = array.attr("view")(f->raw_name);
  } else if (np_dtype.equal(numpy->dtypes[static_cast<std::size_t>(Dtype::float64)])) {
    array = array.attr("astype")(name_of(Dtype::float32));  // as mx.array does
  }
  InputArray input;
  if (!nb::try_cast(array, input, /*convert=*/true)) return std::nullopt;  // copies if strided
  if (!dtype) dtype = native_dtype(input.dtype());
  if (!dtype) return std::nullopt;

  Shape shape = shape_of(input);
  if (reinterpret_cast<std::uintptr_t>(input.data()) % size_of(*dtype) != 0) {
    return Tensor::copy_of(std::move(shape), *dtype, input.data());
  }
  return Tensor::view(std::move(shape), *dtype, input.data(), keep_alive(input));
}

nb::object numpy_from_tensor(const Tensor& tensor) {
  if (!tensor.defined()) return nb::none();
  // The capsule holds a handle on the Tensor's storage for as long as the array lives.
  nb::capsule owner(new Tensor(tensor),
                    [](void* p) noexcept { delete static_cast<Tensor*>(p); });
  const std::vector<std::size_t> shape(tensor.shape().begin(), tensor.shape().end());
  const nb::dlpack::dtype dtype = storage_dtype(tensor.dtype());
  // A view's memory (a read-only mapping, a caller's array) must not be written through.
  nb::object array =
      tensor.is_view()
          ? nb::cast(nb::ndarray<nb::numpy, nb::ro>(tensor.data(), shape.size(), shape.data(),
                                                    owner, nullptr, dtype))
          : nb::cast(nb::ndarray<nb::numpy>(const_cast<void*>(tensor.data()), shape.size(),
                                            shape.data(), owner, nullptr, dtype));
  if (foreign(tensor.dtype())) array = array.attr("view")(numpy_dtype(tensor.dtype()));
  return array;
}

Dtype dtype_from_python(nb::handle dtype_like, std::string_view op) {
  nb::object np_dtype;
  try {
    np_dtype = numpy->np.attr("dtype")(dtype_like);
  } catch (const nb::python_error&) {
    // A name numpy does not know, such as "bfloat16" without ml_dtypes.
  }
  if (np_dtype.is_valid()) {
    if (const ForeignDtype* f = foreign(np_dtype)) return f->dtype;
  }
  const std::string name = np_dtype.is_valid() ? nb::cast<std::string>(np_dtype.attr("name"))
                                               : nb::cast<std::string>(nb::str(dtype_like));
  for (Dtype d : kNativeDtypes) {
    if (name == name_of(d)) return d;
  }
  for (const ForeignDtype& f : kForeignDtypes) {
    if (name == name_of(f.dtype) || name == f.ml_dtypes_name) return f.dtype;
  }
  throw std::invalid_argument("[" + std::string(op) + "] Unsupported dtype " + name + ".");
}

nb::object numpy_dtype(Dtype dtype) { return numpy->dtypes[static_cast<std::size_t>(dtype)]; }

}  // namespace qlinear::python
