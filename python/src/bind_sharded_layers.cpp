// qlinear.nn's tensor-parallel layers with mlx.nn's names and arguments: the four
// sharded linear layers, shard_linear and shard_inplace.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/vector.h>

#include <stdexcept>
#include <string>

#include "layer_bindings.h"
#include "numpy_bridge.h"
#include "qlinear/distributed.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace qlinear::python {
namespace {

using distributed::Group;
using nn::Segments;
using OptionalGroup = std::optional<Group>;

// mlx's `segments`: an int (equal parts) or a list of floats (where the later parts
// begin, as fractions of the axis). Split indices (a list of ints) are refused: the
// packed weight, its scales and the bias have different lengths along the input axis.
Segments segments_from(nb::handle segments, std::string_view op) {
  if (nb::isinstance<nb::int_>(segments)) return Segments(nb::cast<int>(segments));
  if (nb::isinstance<nb::list>(segments) || nb::isinstance<nb::tuple>(segments)) {
    std::vector<double> fractions;
    for (nb::handle item : segments) {
      if (!nb::isinstance<nb::float_>(item))
        throw std::invalid_argument("[" + std::string(op) +
                                    "] segments must be an int or a list of floats (fractions "
                                    "of the axis), got " +
                                    nb::cast<std::string>(nb::repr(segments)) + ".");
      fractions.push_back(nb::cast<double>(item));
    }
    return Segments(std::move(fractions));
  }
  throw std::invalid_argument("[" + std::string(op) + "] segments must be an int or a list, got " +
                              nb::cast<std::string>(nb::repr(segments)) + ".");
}

// mlx's sharding callable: (path, weight) -> axis, (axis, segments) or None.
nn::ShardingPredicate python_sharding(nb::callable sharding) {
  return [sharding](const std::string& path,
                    const Tensor& weight) -> std::optional<std::pair<int, Segments>> {
    nb::object rule = sharding(path, weight);
    if (rule.is_none()) return std::nullopt;
    if (nb::isinstance<nb::int_>(rule)) return std::pair(nb::cast<int>(rule), Segments{});
    if (nb::isinstance<nb::tuple>(rule) && nb::len(rule) == 2)
      return std::pair(nb::cast<int>(rule[0]), segments_from(rule[1], "shard_inplace"));
    throw std::invalid_argument(
        "[shard_inplace] The sharding function should return int or "
        "tuple[int, list], got " +
        nb::cast<std::string>(nb::repr(rule)) + " for " + path + ".");
  };
}

// AllToShardedLinear / ShardedToAllLinear: the constructor and from_linear.
template <class Layer>
void bind_float_layer(nb::module_& m, const char* name, const char* doc) {
  nb::class_<Layer, nn::ShardedLinear>(m, name, doc)
      .def(nb::init<std::int64_t, std::int64_t, bool, OptionalGroup>(), "input_dims"_a,
           "output_dims"_a, "bias"_a = true, "group"_a = nb::none())
      .def_static(
          "from_linear",
          [name](const nn::Linear& layer, nb::handle segments, OptionalGroup group) {
            return Layer::from_linear(layer, segments_from(segments, name), group);
          },
          "linear_layer"_a, nb::kw_only(), "segments"_a = 1, "group"_a = nb::none());
}

// The quantized pair: the constructor with mlx's defaults and from_quantized_linear.
template <class Layer>
void bind_quantized_layer(nb::module_& m, const char* name, const char* doc) {
  auto cls =
      nb::class_<Layer, nn::ShardedLinear>(m, name, doc)
          .def(
              "__init__",
              [name](Layer* self, std::int64_t input_dims, std::int64_t output_dims, bool bias,
                     int group_size, int bits, std::string_view mode, OptionalGroup group) {
                new (self)
                    Layer(input_dims, output_dims, bias,
                          QuantSpec::resolve(name, parse_quant_mode(mode, name), group_size, bits),
                          group);
              },
              "input_dims"_a, "output_dims"_a, "bias"_a = true, "group_size"_a = 64, "bits"_a = 4,
              "mode"_a = "affine", "group"_a = nb::none())
          .def_static(
              "from_quantized_linear",
              [name](const nn::QuantizedLinear& layer, nb::handle segments, OptionalGroup group) {
                return Layer::from_quantized_linear(layer, segments_from(segments, name), group);
              },
              "quantized_linear_layer"_a, nb::kw_only(), "segments"_a = 1, "group"_a = nb::none());
  def_quant_settings(cls);
}

}  // namespace

void bind_sharded_layers(nb::module_& m) {
  nb::class_<nn::ShardedLinear, nn::Unary>(m, "ShardedLinear",
                                           "What the four tensor-parallel linear layers share.")
      .def_prop_ro("group", &nn::ShardedLinear::group, "The group the layer is sharded across.");

  bind_float_layer<nn::AllToShardedLinear>(
      m, "AllToShardedLinear",
      "Each rank computes its block of the output features, as mlx.nn.AllToShardedLinear.");
  bind_float_layer<nn::ShardedToAllLinear>(
      m, "ShardedToAllLinear",
      "Each rank multiplies its block of the input features; all_sum joins them, as "
      "mlx.nn.ShardedToAllLinear.");
  bind_quantized_layer<nn::QuantizedAllToShardedLinear>(m, "QuantizedAllToShardedLinear",
                                                        "The quantized AllToShardedLinear.");
  bind_quantized_layer<nn::QuantizedShardedToAllLinear>(m, "QuantizedShardedToAllLinear",
                                                        "The quantized ShardedToAllLinear.");

  m.def(
      "shard_linear",
      [](const nn::Module& module, std::string_view sharding, nb::handle segments,
         OptionalGroup group) {
        return nn::shard_linear(module, nn::parse_sharding("shard_linear", sharding),
                                segments_from(segments, "shard_linear"), group);
      },
      "module"_a, "sharding"_a, nb::kw_only(), "segments"_a = 1, "group"_a = nb::none(),
      "A new sharded layer made from a Linear or QuantizedLinear, as mlx.nn.layers.distributed's.");
  m.def(
      "shard_inplace",
      [](nn::Module& module, nb::handle sharding, nb::handle segments, OptionalGroup group) {
        if (nb::isinstance<nb::str>(sharding)) {
          nn::shard_inplace(module,
                            nn::parse_sharding("shard_inplace", nb::cast<std::string>(sharding)),
                            segments_from(segments, "shard_inplace"), group);
        } else {
          nn::shard_inplace(module, python_sharding(nb::borrow<nb::callable>(sharding)), group);
        }
      },
      "module"_a, "sharding"_a, nb::kw_only(), "segments"_a = 1, "group"_a = nb::none(),
      "Replaces the module's parameters with this rank's shards, in place; sharding is "
      "'all-to-sharded', 'sharded-to-all' or a callable (path, weight) -> axis, "
      "(axis, segments) or None.");
}

}  // namespace qlinear::python
