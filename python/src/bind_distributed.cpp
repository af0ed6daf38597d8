// qlinear._qlinear.distributed: mlx.core.distributed's names on numpy arrays. The
// collectives block until the other ranks take part, so they release the GIL.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/vector.h>

#include "bindings.h"
#include "numpy_bridge.h"
#include "qlinear/distributed.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace qlinear::python {

void bind_distributed(nb::module_& m) {
  namespace dist = qlinear::distributed;
  nb::module_ d = m.def_submodule("distributed", "Communication between processes over MPI");

  nb::class_<dist::Group>(d, "Group", "The processes taking part in the collectives.")
      .def("rank", &dist::Group::rank, "This process's rank in the group.")
      .def("size", &dist::Group::size, "The number of processes in the group.")
      .def("split", &dist::Group::split, "color"_a, "key"_a = -1,
           nb::call_guard<nb::gil_scoped_release>(),
           "Subgroups of the ranks that pass the same color, ordered by key (by rank when "
           "key < 0). Every rank of this group must call it.");

  d.def("is_available", &dist::is_available, "backend"_a = "any",
        "Whether qlinear can start this backend ('any' or 'mpi' when built with MPI).");
  d.def("init", &dist::init, "strict"_a = false, "backend"_a = "any",
        nb::call_guard<nb::gil_scoped_release>(),
        "The global group: the ranks mpirun started, or a group of one process (strict: "
        "RuntimeError where the backend is unavailable).");
  d.def("all_sum", &dist::all_sum, "x"_a, nb::kw_only(), "group"_a = nb::none(),
        nb::call_guard<nb::gil_scoped_release>(), "The element-wise sum of x over the group.");
  d.def("all_gather", &dist::all_gather, "x"_a, nb::kw_only(), "group"_a = nb::none(),
        nb::call_guard<nb::gil_scoped_release>(),
        "The ranks' x concatenated along the first axis, in rank order.");
  d.def("send", &dist::send, "x"_a, "dst"_a, nb::kw_only(), "group"_a = nb::none(),
        nb::call_guard<nb::gil_scoped_release>(), "Sends x to rank dst; returns x.");
  d.def(
      "recv",
      [](const Shape& shape, nb::handle dtype, int src, const std::optional<dist::Group>& group) {
        const Dtype type = dtype_from_python(dtype, "recv");
        nb::gil_scoped_release release;
        return dist::recv(shape, type, src, group);
      },
      "shape"_a, "dtype"_a, "src"_a, nb::kw_only(), "group"_a = nb::none(),
      "Receives an array of this shape and dtype from rank src.");
  d.def("recv_like", &dist::recv_like, "x"_a, "src"_a, nb::kw_only(), "group"_a = nb::none(),
        nb::call_guard<nb::gil_scoped_release>(),
        "Receives an array shaped and typed like x from rank src.");
}

}  // namespace qlinear::python
