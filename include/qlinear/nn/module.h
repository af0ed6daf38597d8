// Module: the base of every layer, with MLX's nn.Module semantics in C++.
//
// A module owns named parameters (Tensors) and named child modules; a child slot holds
// either one module or a list of them, so that paths read "model.layers.3.mlp.down_proj"
// exactly as in MLX and mlx-lm checkpoints. Modules are shared by handle (shared_ptr)
// the way Python objects are, so update_modules() can swap a layer in place.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "qlinear/io.h"
#include "qlinear/ops.h"
#include "qlinear/tensor.h"

namespace qlinear::nn {

class Module;
using ModulePtr = std::shared_ptr<Module>;
using ModuleList = std::vector<ModulePtr>;
// (dotted path, value) pairs in registration order, as mlx.utils.tree_flatten gives them.
using NamedParameters = std::vector<std::pair<std::string, Tensor>>;
using NamedModules = std::vector<std::pair<std::string, ModulePtr>>;
// Parameter names for freeze() / unfreeze(); nullopt means "all of them".
using KeyList = std::optional<std::vector<std::string>>;

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The class name MLX prints ("Linear", "QuantizedLinear").
  virtual std::string type_name() const = 0;
  // What the description shows between the parentheses ("input_dims=4, ...").
  virtual std::string extra_repr() const { return {}; }
  // The settings of a quantized layer; nullopt for every other module.
  virtual std::optional<QuantSpec> quant_spec() const { return std::nullopt; }

  // Every parameter of this module and its descendants, with dotted paths.
  NamedParameters parameters() const;
  // parameters() without the frozen ones.
  NamedParameters trainable_parameters() const;
  // Direct children; list slots flatten to "layers.0", "layers.1", ...
  NamedModules children() const;
  // This module (path "") and every descendant, parents before their children. The
  // entry for this module is a non-owning handle: it does not keep the module alive.
  NamedModules named_modules() const;
  // The descendants that have no children of their own.
  NamedModules leaf_modules() const;

  bool has_parameter(std::string_view name) const;
  // A parameter of this module (not a descendant); throws std::out_of_range if absent.
  const Tensor& parameter(std::string_view name) const;
  // The module at a dotted path ("" is this module); throws std::out_of_range naming it.
  Module& module_at(std::string_view path);
  const Module& module_at(std::string_view path) const;
  bool is_frozen(std::string_view name) const { return frozen_.contains(std::string(name)); }

  // Freezing a parameter keeps it out of trainable_parameters(). keys names this
  // module's own parameters (in each module visited when recurse); strict makes an
  // unknown key an error.
  Module& freeze(bool recurse = true, const KeyList& keys = std::nullopt, bool strict = false);
  Module& unfreeze(bool recurse = true, const KeyList& keys = std::nullopt, bool strict = false);

  // Replaces the modules at the given paths (each must exist and hold a module).
  // Every path is checked before anything changes.
  Module& update_modules(const std::map<std::string, ModulePtr>& modules);

  // Sets parameters from (path -> tensor). strict: the names must be exactly
  // parameters()'s, with the same shapes and compatible dtypes (any float for a float
  // parameter, the same dtype otherwise); every problem is reported in one
  // std::invalid_argument and nothing changes. Not strict: names the model lacks are
  // ignored and nothing is checked, as in MLX.
  Module& load_weights(const TensorMap& weights, bool strict = true);
  Module& load_weights(const std::filesystem::path& file, bool strict = true);
  // parameters() to a safetensors file with MLX's metadata {"format": "mlx"}.
  void save_weights(const std::filesystem::path& file) const;

  // The tree as MLX prints it:  Model(\n  (lm_head): Linear(input_dims=...)\n)
  std::string repr() const;

 protected:
  // Adds a parameter, or replaces the value of an existing one (keeping its place).
  void set_parameter(const std::string& name, Tensor value);
  void remove_parameter(std::string_view name);
  const Tensor* find_parameter(std::string_view name) const;
  void set_module(const std::string& name, ModulePtr module);
  void set_modules(const std::string& name, ModuleList modules);

  // What freeze / unfreeze do to this module alone; a layer can keep its own
  // parameters frozen by overriding unfreeze_own.
  virtual void freeze_own(const KeyList& keys, bool strict);
  virtual void unfreeze_own(const KeyList& keys, bool strict);

 private:
  using Slot = std::variant<ModulePtr, ModuleList>;

  std::vector<std::string> checked_keys(const KeyList& keys, bool strict,
                                        std::string_view op) const;
  void collect_parameters(const std::string& prefix, bool trainable_only,
                          NamedParameters& out) const;
  void collect_modules(const std::string& prefix, NamedModules& out) const;
  // The handle holding the descendant at a non-empty dotted path, or nullptr.
  ModulePtr* find_entry(std::string_view path);
  // The module at a dotted path ("" is this module), or nullptr.
  Module* find_module(std::string_view path);

  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<std::pair<std::string, Slot>> slots_;
  std::set<std::string> frozen_;
};

std::ostream& operator<<(std::ostream& os, const Module& module);

}  // namespace qlinear::nn
