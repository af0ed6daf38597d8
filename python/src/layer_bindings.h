// What the bindings of the nn layers share (bind_nn.cpp, bind_sharded_layers.cpp).
#pragma once

#include <nanobind/nanobind.h>

#include "qlinear/nn.h"

namespace qlinear::python {

// The read-only group_size, bits and mode of a quantized layer, as mlx.nn shows them.
template <class Class>
void def_quant_settings(Class& cls) {
  using nn::Module;
  cls.def_prop_ro("group_size", [](const Module& self) { return self.quant_spec()->group_size; })
      .def_prop_ro("bits", [](const Module& self) { return self.quant_spec()->bits; })
      .def_prop_ro("mode", [](const Module& self) { return mode_name(self.quant_spec()->mode); });
}

// qlinear.nn's tensor-parallel layers, shard_linear and shard_inplace (after bind_layers).
void bind_sharded_layers(nanobind::module_& nn_module);

}  // namespace qlinear::python
