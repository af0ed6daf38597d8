// One function per part of the API, each adding its bindings to the module.
#pragma once

#include <nanobind/nanobind.h>

namespace qlinear::python {

void bind_ops(nanobind::module_& m);
void bind_io(nanobind::module_& m);
void bind_nn(nanobind::module_& m);
// After bind_nn: adds load_model to the nn submodule.
void bind_model(nanobind::module_& m);
void bind_runtime(nanobind::module_& m);
// The float ops (qlinear.fast, softmax, silu, ...) and qlinear._qlinear.lm.
void bind_lm(nanobind::module_& m);

}  // namespace qlinear::python
