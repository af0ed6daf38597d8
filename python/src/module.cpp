// The extension module qlinear._qlinear; the package qlinear re-exports it.
#include "bindings.h"
#include "numpy_bridge.h"

NB_MODULE(_qlinear, m) {
  m.doc() = "qlinear's C++ engine: MLX-compatible quantization on numpy arrays";
  qlinear::python::init_numpy_bridge(m);
  qlinear::python::bind_ops(m);
  qlinear::python::bind_io(m);
  qlinear::python::bind_nn(m);
  qlinear::python::bind_model(m);
  qlinear::python::bind_runtime(m);
  qlinear::python::bind_distributed(m);
  qlinear::python::bind_lm(m);
}
