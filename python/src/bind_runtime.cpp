// Run-time settings of the kernels: thread count and instruction set.
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
  m.def("active_isa", &active_isa, "The kernels in use: scalar, avx2, avx512 or neon.");
  m.def("supported_isas", &supported_isas, "Every instruction set this CPU runs, scalar first.");
  m.def("set_isa", &set_isa, "name"_a, "Selects the kernels; ValueError if this CPU cannot run them.");
}

}  // namespace qlinear::python
