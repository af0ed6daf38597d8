// One function per part of the API, each adding its bindings to the module.
#pragma once

#include <nanobind/nanobind.h>

#include <vector>

#include "qlinear/gguf.h"
#include "qlinear/sample.h"

namespace qlinear::python {

void bind_ops(nanobind::module_& m);
void bind_io(nanobind::module_& m);
void bind_nn(nanobind::module_& m);
// After bind_nn: adds load_model to the nn submodule.
void bind_model(nanobind::module_& m);
void bind_runtime(nanobind::module_& m);
// qlinear._qlinear.distributed: the group and the collectives.
void bind_distributed(nanobind::module_& m);
// The float ops (qlinear.fast, softmax, silu, ...) and qlinear._qlinear.lm.
void bind_lm(nanobind::module_& m);
// Samplers and logits processors in qlinear._qlinear.lm (called by bind_lm).
void bind_sample(nanobind::module_& lm_module);

// What generate() is given as sampler / logits_processors: qlinear's own (run in C++) or
// any Python callable (called with numpy arrays, taking the GIL). None: greedy / none.
// Build and destroy the results with the GIL held.
lm::Sampler sampler_from_python(nanobind::handle sampler);
std::vector<lm::LogitsProcessor> processors_from_python(nanobind::handle processors);

// One row of a GGUF import report: {name, type, method, dtype, bits, exact}.
nanobind::dict gguf_import_to_python(const GgufTensorImport& tensor);

}  // namespace qlinear::python
