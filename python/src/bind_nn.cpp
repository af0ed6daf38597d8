// qlinear.nn: the C++ module tree and layers, with mlx.nn's Python surface.
//
// Attribute access is the tree, as in mlx.nn: `self.fc = Linear(...)` adds a child,
// `self.layers = [...]` a list of children, `self.w = array` a parameter, and reading
// them back finds them there. So a Python subclass of Module is a node of the same tree
// the C++ layers live in, and nn.quantize, load_weights and parameters() see through it.
//
// The GIL is released only while a layer computes. Tree edits keep it: dropping the
// last C++ handle on a Python-made module releases a Python reference.
#include <nanobind/stl/filesystem.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/vector.h>
#include <nanobind/trampoline.h>

#include <map>
#include <stdexcept>
#include <string>

#include "bindings.h"
#include "layer_bindings.h"
#include "numpy_bridge.h"
#include "qlinear/nn.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace qlinear::python {
namespace {

using nn::Module;
using nn::ModulePtr;

// A Python subclass of Module: MLX prints it by its Python class name and fills the
// parentheses from its _extra_repr(), as mlx.nn does.
class PyModule : public Module {
 public:
  NB_TRAMPOLINE(Module);

  std::string type_name() const override {
    nb::gil_scoped_acquire gil;
    return nb::cast<std::string>(nb_trampoline.base().type().attr("__name__"));
  }
  std::string extra_repr() const override {
    nb::gil_scoped_acquire gil;
    NB_OVERRIDE_NAME("_extra_repr", extra_repr);
  }
};

// Module's tree-building members are protected: layers call them on themselves, but
// Python's attribute assignment needs them on any module.
struct TreeAccess : Module {
  using Module::find_parameter;
  using Module::set_module;
  using Module::set_modules;
  using Module::set_parameter;
};

// mlx.utils' tree_flatten / tree_unflatten, which the package keeps in qlinear.utils.
nb::object tree_utility(const char* name) {
  return nb::module_::import_("qlinear.utils").attr(name);
}

nb::object tree_unflatten(nb::object flat) { return tree_utility("tree_unflatten")(flat); }

// A dict {name: value} or a list of (name, value) pairs as a map.
template <class Value>
std::map<std::string, Value> named_map(nb::handle items) {
  if (nb::isinstance<nb::dict>(items)) return nb::cast<std::map<std::string, Value>>(items);
  std::map<std::string, Value> map;
  for (auto& [name, value] : nb::cast<std::vector<std::pair<std::string, Value>>>(items)) {
    map.emplace(std::move(name), std::move(value));
  }
  return map;
}

std::map<std::string, ModulePtr> flatten_modules(nb::handle nested) {
  return named_map<ModulePtr>(tree_utility("tree_flatten")(nested));
}

nn::KeyList key_list(nb::handle keys) {
  if (keys.is_none()) return std::nullopt;
  if (nb::isinstance<nb::str>(keys)) return std::vector{nb::cast<std::string>(keys)};
  return nb::cast<std::vector<std::string>>(keys);
}

QuantSpec spec_from(std::optional<int> group_size, std::optional<int> bits, std::string_view mode,
                    std::string_view op) {
  return QuantSpec::resolve(op, parse_quant_mode(mode, op), group_size, bits);
}

// Reading an attribute MLX keeps in the module's dict: a parameter, a child, or a list
// of children ("layers" for children "layers.0", "layers.1", ...).
nb::object tree_attribute(const Module& self, const std::string& name) {
  if (const Tensor* value = (self.*&TreeAccess::find_parameter)(name)) return nb::cast(*value);
  const std::string list_prefix = name + ".";
  nb::list items;
  for (const auto& [path, child] : self.children()) {
    if (path == name) return nb::cast(child);
    if (path.starts_with(list_prefix)) items.append(child);
  }
  if (items.size() > 0) return items;
  throw nb::attribute_error(("'" + self.type_name() + "' object has no attribute '" + name + "'").c_str());
}

void set_tree_attribute(nb::handle self_handle, const std::string& name, nb::handle value) {
  Module& self = nb::cast<Module&>(self_handle);
  if (nb::isinstance<Module>(value)) {
    (self.*&TreeAccess::set_module)(name, nb::cast<ModulePtr>(value));
  } else if (nb::isinstance<nb::list>(value) && nb::len(value) > 0 &&
             nb::isinstance<Module>(value[0])) {
    (self.*&TreeAccess::set_modules)(name, nb::cast<nn::ModuleList>(value));
  } else if (std::optional<Tensor> tensor = tensor_from_numpy(value, /*convert=*/false)) {
    (self.*&TreeAccess::set_parameter)(name, std::move(*tensor));
  } else if (PyObject_GenericSetAttr(self_handle.ptr(), nb::str(name.c_str()).ptr(), value.ptr()) != 0) {
    throw nb::python_error();
  }
}

// A Python class_predicate(path, module) -> bool or {"group_size", "bits", "mode"}.
nn::ClassPredicate python_predicate(nb::callable predicate, const Module& model) {
  std::map<std::string, ModulePtr, std::less<>> by_path;
  for (auto& [path, module] : model.named_modules()) by_path.emplace(path, module);
  return [predicate, by_path = std::move(by_path)](std::string_view path,
                                                    const Module&) -> nn::QuantChoice {
    nb::object choice = predicate(std::string(path), by_path.find(path)->second);
    if (nb::isinstance<nb::bool_>(choice)) return nb::cast<bool>(choice);
    if (!nb::isinstance<nb::dict>(choice)) {
      throw std::invalid_argument("[nn::quantize] class_predicate must return a bool or a dict, got " +
                                  nb::cast<std::string>(nb::repr(choice)) + " for " +
                                  std::string(path) + ".");
    }
    nb::dict settings = nb::cast<nb::dict>(choice);
    auto get = [&](const char* key) { return settings.contains(key) ? settings[key] : nb::none(); };
    nb::object mode = get("mode");
    return spec_from(nb::cast<std::optional<int>>(get("group_size")),
                     nb::cast<std::optional<int>>(get("bits")),
                     mode.is_none() ? "affine" : nb::cast<std::string>(mode), "nn::quantize");
  };
}

void bind_module(nb::module_& m) {
  nb::class_<Module, PyModule>(m, "Module", nb::dynamic_attr(),
                               "The base of every layer, with mlx.nn.Module's tree semantics.")
      .def(nb::init<>())
      .def("__getattr__", &tree_attribute, "name"_a)
      .def("__setattr__", &set_tree_attribute, "name"_a, "value"_a)
      .def("parameters",
           [](const Module& self) { return tree_unflatten(nb::cast(self.parameters())); },
           "Every parameter, nested by path as mlx.nn.Module.parameters() gives them.")
      .def("trainable_parameters",
           [](const Module& self) { return tree_unflatten(nb::cast(self.trainable_parameters())); },
           "parameters() without the frozen ones.")
      .def("children", [](const Module& self) { return tree_unflatten(nb::cast(self.children())); })
      .def("leaf_modules",
           [](const Module& self) { return tree_unflatten(nb::cast(self.leaf_modules())); })
      .def("named_modules", &Module::named_modules,
           "(path, module) for this module (path \"\") and every descendant.")
      .def("modules", [](const Module& self) {
        nb::list modules;
        for (const auto& [path, module] : self.named_modules()) modules.append(module);
        return modules;
      })
      .def(
          "freeze",
          [](Module& self, bool recurse, nb::handle keys, bool strict) -> Module& {
            return self.freeze(recurse, key_list(keys), strict);
          },
          nb::kw_only(), "recurse"_a = true, "keys"_a = nb::none(), "strict"_a = false,
          nb::rv_policy::reference)
      .def(
          "unfreeze",
          [](Module& self, bool recurse, nb::handle keys, bool strict) -> Module& {
            return self.unfreeze(recurse, key_list(keys), strict);
          },
          nb::kw_only(), "recurse"_a = true, "keys"_a = nb::none(), "strict"_a = false,
          nb::rv_policy::reference)
      .def(
          "update_modules",
          [](Module& self, nb::handle modules) -> Module& {
            return self.update_modules(flatten_modules(modules));
          },
          "modules"_a, nb::rv_policy::reference,
          "Replaces the modules at the paths of a nested dict (as mlx.nn's update_modules).")
      .def(
          "load_weights",
          [](Module& self, nb::handle file_or_weights, bool strict) -> Module& {
            if (nb::isinstance<nb::str>(file_or_weights) || nb::hasattr(file_or_weights, "__fspath__")) {
              return self.load_weights(nb::cast<std::filesystem::path>(file_or_weights), strict);
            }
            return self.load_weights(named_map<Tensor>(file_or_weights), strict);
          },
          "file_or_weights"_a, "strict"_a = true, nb::rv_policy::reference,
          "Sets parameters from a .safetensors file or a list of (name, array) pairs; strict\n"
          "reports every extra, missing or mismatched name and then changes nothing.")
      .def("save_weights", &Module::save_weights, "file"_a)
      .def("_extra_repr", &Module::extra_repr, "What the description shows in parentheses.")
      .def("__repr__", &Module::repr);
}

// __call__ of a layer that maps one array to one, computing without the GIL.
template <class Layer>
auto unary_call() {
  return [](const Layer& self, const Tensor& x) {
    nb::gil_scoped_release released;
    return self(x);
  };
}

template <class Layer>
auto as_linear_call() {
  return [](const Layer& self, const Tensor& x) {
    nb::gil_scoped_release released;
    return self.as_linear(x);
  };
}

void bind_layers(nb::module_& m) {
  nb::class_<nn::Unary, Module>(m, "Unary", "A layer that maps one array to one.").def("__call__", unary_call<nn::Unary>(), "x"_a);
  nb::class_<nn::Container, Module>(m, "Container",
                                   "A module that only holds children and parameters.");

  nb::class_<nn::Linear, nn::Unary>(m, "Linear", "y = x @ weight.T + bias, as mlx.nn.Linear.")
      .def(nb::init<std::int64_t, std::int64_t, bool>(), "input_dims"_a, "output_dims"_a,
           "bias"_a = true);

  nb::class_<nn::Embedding, nn::Unary>(m, "Embedding", "Rows of weight by integer id, as mlx.nn.Embedding.")
      .def(nb::init<std::int64_t, std::int64_t>(), "num_embeddings"_a, "dims"_a)
      .def("as_linear", as_linear_call<nn::Embedding>(), "x"_a);

  auto quantized_linear =
      nb::class_<nn::QuantizedLinear, nn::Unary>(m, "QuantizedLinear",
                                                    "The quantized Linear, as mlx.nn.QuantizedLinear.")
          .def(
              "__init__",
              [](nn::QuantizedLinear* self, std::int64_t input_dims, std::int64_t output_dims,
                 bool bias, std::optional<int> group_size, std::optional<int> bits,
                 std::string_view mode) {
                new (self) nn::QuantizedLinear(input_dims, output_dims, bias,
                                               spec_from(group_size, bits, mode, "QuantizedLinear"));
              },
              "input_dims"_a, "output_dims"_a, "bias"_a = true, "group_size"_a = nb::none(),
              "bits"_a = nb::none(), "mode"_a = "affine")
          .def_static(
              "from_linear",
              [](const nn::Linear& linear, std::optional<int> group_size, std::optional<int> bits,
                 std::string_view mode) {
                return nn::QuantizedLinear::from_linear(
                    linear, spec_from(group_size, bits, mode, "QuantizedLinear"));
              },
              "linear_layer"_a, "group_size"_a = nb::none(), "bits"_a = nb::none(),
              "mode"_a = "affine");
  def_quant_settings(quantized_linear);

  auto quantized_embedding =
      nb::class_<nn::QuantizedEmbedding, nn::Unary>(
          m, "QuantizedEmbedding", "The quantized Embedding, as mlx.nn.QuantizedEmbedding.")
          .def(
              "__init__",
              [](nn::QuantizedEmbedding* self, std::int64_t num_embeddings, std::int64_t dims,
                 std::optional<int> group_size, std::optional<int> bits, std::string_view mode) {
                new (self) nn::QuantizedEmbedding(
                    num_embeddings, dims, spec_from(group_size, bits, mode, "QuantizedEmbedding"));
              },
              "num_embeddings"_a, "dims"_a, "group_size"_a = nb::none(), "bits"_a = nb::none(),
              "mode"_a = "affine")
          .def_static(
              "from_embedding",
              [](const nn::Embedding& embedding, std::optional<int> group_size,
                 std::optional<int> bits, std::string_view mode) {
                return nn::QuantizedEmbedding::from_embedding(
                    embedding, spec_from(group_size, bits, mode, "QuantizedEmbedding"));
              },
              "embedding_layer"_a, "group_size"_a = nb::none(), "bits"_a = nb::none(),
              "mode"_a = "affine")
          .def("as_linear", as_linear_call<nn::QuantizedEmbedding>(), "x"_a);
  def_quant_settings(quantized_embedding);
}

// mlx-lm's switch_layers: the expert layers and the expert MLPs.
void bind_switch_layers(nb::module_& m) {
  nb::class_<nn::SwitchLayer, Module>(m, "SwitchLayer", "A layer of stacked experts.")
      .def(
          "__call__",
          [](const nn::SwitchLayer& self, const Tensor& x, const Tensor& indices,
             bool sorted_indices) {
            nb::gil_scoped_release released;
            return self(x, indices, sorted_indices);
          },
          "x"_a, "indices"_a, "sorted_indices"_a = false)
      .def_prop_ro("input_dims", &nn::SwitchLayer::input_dims)
      .def_prop_ro("output_dims", &nn::SwitchLayer::output_dims)
      .def_prop_ro("num_experts", &nn::SwitchLayer::num_experts);

  nb::class_<nn::SwitchLinear, nn::SwitchLayer>(
      m, "SwitchLinear", "One Linear per expert, picked by index, as mlx-lm's SwitchLinear.")
      .def(nb::init<std::int64_t, std::int64_t, std::int64_t, bool>(), "input_dims"_a,
           "output_dims"_a, "num_experts"_a, "bias"_a = true)
      .def(
          "to_quantized",
          [](const nn::SwitchLinear& self, std::optional<int> group_size, std::optional<int> bits,
             std::string_view mode) {
            return nn::QuantizedSwitchLinear::from_switch_linear(
                self, spec_from(group_size, bits, mode, "SwitchLinear.to_quantized"));
          },
          "group_size"_a = nb::none(), "bits"_a = nb::none(), "mode"_a = "affine");

  auto quantized =
      nb::class_<nn::QuantizedSwitchLinear, nn::SwitchLayer>(
          m, "QuantizedSwitchLinear", "The quantized SwitchLinear, as mlx-lm's (gather_qmm).")
          .def(
              "__init__",
              [](nn::QuantizedSwitchLinear* self, std::int64_t input_dims,
                 std::int64_t output_dims, std::int64_t num_experts, bool bias,
                 std::optional<int> group_size, std::optional<int> bits, std::string_view mode) {
                new (self) nn::QuantizedSwitchLinear(
                    input_dims, output_dims, num_experts, bias,
                    spec_from(group_size, bits, mode, "QuantizedSwitchLinear"));
              },
              "input_dims"_a, "output_dims"_a, "num_experts"_a, "bias"_a = true,
              "group_size"_a = nb::none(), "bits"_a = nb::none(), "mode"_a = "affine")
          .def_static(
              "from_switch_linear",
              [](const nn::SwitchLinear& layer, std::optional<int> group_size,
                 std::optional<int> bits, std::string_view mode) {
                return nn::QuantizedSwitchLinear::from_switch_linear(
                    layer, spec_from(group_size, bits, mode, "QuantizedSwitchLinear"));
              },
              "switch_linear"_a, "group_size"_a = nb::none(), "bits"_a = nb::none(),
              "mode"_a = "affine");
  def_quant_settings(quantized);

  auto switch_call = [](const nn::SwitchMlpBase& self, const Tensor& x, const Tensor& indices) {
    nb::gil_scoped_release released;
    return self(x, indices);
  };
  nb::class_<nn::SwitchMlpBase, Module>(m, "SwitchMlpBase", "An expert MLP with mlx-lm's routing.")
      .def("__call__", switch_call, "x"_a, "indices"_a);
  nb::class_<nn::SwitchGLU, nn::SwitchMlpBase>(
      m, "SwitchGLU", "down_proj(swiglu(gate_proj(x), up_proj(x))) per expert, as mlx-lm's.")
      .def(nb::init<std::int64_t, std::int64_t, std::int64_t, bool>(), "input_dims"_a,
           "hidden_dims"_a, "num_experts"_a, "bias"_a = false);
  nb::class_<nn::SwitchMLP, nn::SwitchMlpBase>(
      m, "SwitchMLP", "fc2(gelu(fc1(x))) per expert (precise GELU), as mlx-lm's.")
      .def(nb::init<std::int64_t, std::int64_t, std::int64_t, bool>(), "input_dims"_a,
           "hidden_dims"_a, "num_experts"_a, "bias"_a = false);
}

}  // namespace

void bind_nn(nb::module_& parent) {
  nb::module_ m = parent.def_submodule("nn", "The module tree and layers behind qlinear.nn.");
  bind_module(m);
  bind_layers(m);
  bind_switch_layers(m);
  bind_sharded_layers(m);

  m.def(
      "quantize",
      [](Module& model, std::optional<int> group_size, std::optional<int> bits,
         std::string_view mode, std::optional<nb::callable> class_predicate) {
        nn::quantize(model, group_size, bits, mode,
                     class_predicate ? python_predicate(*class_predicate, model) : nn::ClassPredicate{});
      },
      "model"_a, "group_size"_a = nb::none(), "bits"_a = nb::none(), nb::kw_only(),
      "mode"_a = "affine", "class_predicate"_a = nb::none(),
      "Replaces, in place, every Linear, Embedding and SwitchLinear the predicate selects by\n"
      "its quantized equivalent, as mlx.nn.quantize.");
  m.def("seed", &nn::seed, "value"_a, "Restarts the generator that layer initialisation draws from.");
}

}  // namespace qlinear::python
