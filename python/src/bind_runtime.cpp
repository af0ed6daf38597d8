// Run-time settings of the kernels: thread count, instruction set and matmul precision.
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/vector.h>

#include "bindings.h"
#include "qlinear/runtime.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace qlinear::python {

void bind_runtime(nb::module_& m) {
  m.def("num_threads", &num_threads,
        "Threads an operation may use (QLINEAR_NUM_THREADS, else the number of cores).");
  m.def("set_num_threads", &set_num_threads, "n"_a,
        "Sets the thread count; n <= 0 restores the default. Results do not depend on it.");
  m.def("active_isa", &active_isa,
        "The kernels in use: scalar, avx2, avx512, avx512_bf16 or neon.");
  m.def("supported_isas", &supported_isas, "Every instruction set this CPU runs, scalar first.");
  m.def("set_isa", &set_isa, "name"_a,
        "Selects the kernels; ValueError if this CPU cannot run them.");
  // Strings, as torch.set_float32_matmul_precision takes them.
  m.def(
      "matmul_precision", [] { return std::string(to_string(matmul_precision())); },
      "How quantized_matmul may round x: 'exact' (default), 'bfloat16' or 'int8'.");
  m.def(
      "set_matmul_precision",
      [](std::string_view name) { set_matmul_precision(parse_matmul_precision(name)); }, "name"_a,
      "Permits quantized_matmul to round x to bfloat16 ('bfloat16') or int8 per row and weight "
      "group ('int8') where the CPU has a faster path for it; 'exact' restores the default. "
      "ValueError for any other name.");
}

}  // namespace qlinear::python
