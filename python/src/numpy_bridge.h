// numpy arrays <-> qlinear Tensors, without copies where the layout allows.
//
// In: a C-contiguous, aligned numpy array becomes a read-only Tensor view whose owner
// holds a reference to the array. Anything else that np.asarray accepts is converted
// first (a copy), and float64 becomes float32 as mx.array does.
// Out: a numpy array on the Tensor's own storage, kept alive by a capsule holding the
// Tensor; read-only when the Tensor is a view (a memory-mapped file, say).
//
// numpy has no bfloat16 or float8: with ml_dtypes installed those come out as its
// dtypes; without it they come out as the raw uint16 / uint8 bits, tagged through the
// numpy dtype's metadata ({"qlinear": "bfloat16"}) so that they go back in as what
// they are. `qlinear.bfloat16` is whichever of the two dtypes is in use.
#pragma once

#include <nanobind/nanobind.h>

#include <optional>

#include "qlinear/tensor.h"

namespace qlinear::python {

// Looks up numpy and ml_dtypes; sets the module attributes bfloat16 and BFLOAT16_AS_UINT16.
void init_numpy_bridge(nanobind::module_& m);

// nullopt if obj is not an array (and `convert` is false) or has an unsupported dtype.
std::optional<Tensor> tensor_from_numpy(nanobind::handle obj, bool convert);
nanobind::object numpy_from_tensor(const Tensor& tensor);

// A dtype given the way numpy users write it: np.float16, "bfloat16", ml_dtypes.bfloat16,
// qlinear.bfloat16. Throws std::invalid_argument "[op] ..." for anything else.
Dtype dtype_from_python(nanobind::handle dtype_like, std::string_view op);
nanobind::object numpy_dtype(Dtype dtype);

}  // namespace qlinear::python

namespace nanobind::detail {

// Lets every bound function take and return qlinear::Tensor as numpy arrays.
template <>
struct type_caster<qlinear::Tensor> {
  NB_TYPE_CASTER(qlinear::Tensor, const_name("numpy.ndarray"))

  bool from_python(handle src, uint32_t flags, cleanup_list*) noexcept {
    try {
      std::optional<qlinear::Tensor> tensor =
          qlinear::python::tensor_from_numpy(src, (flags & (uint32_t)cast_flags::convert) != 0);
      if (!tensor) return false;
      value = std::move(*tensor);
      return true;
    } catch (const python_error&) {
      PyErr_Clear();  // not convertible: let overload resolution report a TypeError
      return false;
    } catch (const std::exception&) {
      return false;
    }
  }

  static handle from_cpp(const qlinear::Tensor& tensor, rv_policy, cleanup_list*) noexcept {
    try {
      return qlinear::python::numpy_from_tensor(tensor).release();
    } catch (python_error& e) {
      e.restore();
      return handle();
    } catch (const std::exception& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
      return handle();
    }
  }
};

}  // namespace nanobind::detail
