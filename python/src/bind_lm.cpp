// Language models (qlinear/lm.h) and the float ops (qlinear/float_ops.h). Forward passes
// and generation run without the GIL; a generation callback takes it back per token.
#include <nanobind/stl/filesystem.h>
#include <nanobind/stl/function.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include "bindings.h"
#include "numpy_bridge.h"
#include "qlinear/float_ops.h"
#include "qlinear/lm.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace qlinear::python {
namespace {

// One layer cache per layer, as a Python object.
struct LmCache {
  lm::Cache layers;
};

// What qlinear.lm.load returns.
struct LmModel {
  std::shared_ptr<const lm::Model> model;
  lm::ModelArgs args;
  std::optional<distributed::Group> group;  // the group it is sharded over, if any
};

template <class Fn>
Tensor without_gil(Fn&& fn) {
  nb::gil_scoped_release released;
  return fn();
}

void bind_float_ops(nb::module_& m) {
  nb::module_ fast = m.def_submodule("fast", "mlx.core.fast's float ops (float32 arithmetic)");
  fast.def(
      "rms_norm",
      [](const Tensor& x, const std::optional<Tensor>& weight, float eps) {
        return without_gil([&] { return rms_norm(x, weight, eps); });
      },
      "x"_a, "weight"_a.none(), "eps"_a, "As mx.fast.rms_norm.");
  fast.def(
      "rope",
      [](const Tensor& x, int dims, bool traditional, std::optional<float> base, float scale,
         std::int64_t offset, const std::optional<Tensor>& freqs) {
        return without_gil([&] { return rope(x, dims, traditional, base, scale, offset, freqs); });
      },
      "a"_a, "dims"_a, nb::kw_only(), "traditional"_a, "base"_a.none(), "scale"_a, "offset"_a,
      "freqs"_a = nb::none(), "As mx.fast.rope.");
  fast.def(
      "scaled_dot_product_attention",
      [](const Tensor& q, const Tensor& k, const Tensor& v, float scale, std::string_view mask) {
        return without_gil([&] { return scaled_dot_product_attention(q, k, v, scale, mask); });
      },
      "q"_a, "k"_a, "v"_a, nb::kw_only(), "scale"_a, "mask"_a = "",
      "As mx.fast.scaled_dot_product_attention with mask None (\"\") or \"causal\".");
  m.def(
      "softmax", [](const Tensor& x) { return without_gil([&] { return softmax(x); }); }, "x"_a,
      "Softmax along the last axis, in float32 (mx.softmax(x, axis=-1, precise=True)).");
  m.def(
      "silu", [](const Tensor& x) { return without_gil([&] { return silu(x); }); }, "x"_a,
      "x * sigmoid(x) (mlx.nn.silu).");
  m.def(
      "swiglu",
      [](const Tensor& gate, const Tensor& up) {
        return without_gil([&] { return swiglu(gate, up); });
      },
      "gate"_a, "up"_a, "silu(gate) * up (mlx-lm's swiglu).");
  m.def(
      "linear",
      [](const Tensor& x, const Tensor& weight, const std::optional<Tensor>& bias) {
        return without_gil([&] { return linear(x, weight, bias); });
      },
      "x"_a, "weight"_a, "bias"_a = nb::none(), "x @ weight.T + bias with float32 sums.");
}

}  // namespace

void bind_lm(nb::module_& m) {
  bind_float_ops(m);
  nb::module_ lm_module = m.def_submodule("lm", "Language models from mlx-lm folders");
  bind_sample(lm_module);

  nb::class_<LmCache>(lm_module, "Cache", "One KVCache per layer (mlx-lm's make_prompt_cache)")
      .def_prop_ro("offset",
                   [](const LmCache& c) { return c.layers.empty() ? 0 : c.layers[0].offset(); })
      .def_prop_ro("nbytes", [](const LmCache& c) {
        std::size_t n = 0;
        for (const lm::LayerCache& layer : c.layers) n += layer.nbytes();
        return n;
      });

  nb::class_<LmModel>(lm_module, "Model")
      .def(
          "__call__",
          [](const LmModel& self, const Tensor& ids, LmCache* cache) {
            return without_gil(
                [&] { return (*self.model)(ids, cache ? &cache->layers : nullptr); });
          },
          "inputs"_a, "cache"_a = nb::none(),
          "Logits (1, T, vocab) float32 for ids (1, T); appends to the cache if given.")
      .def("make_cache", [](const LmModel& self) { return LmCache{self.model->make_cache()}; })
      .def(
          "generate_tokens",
          [](const LmModel& self, const std::vector<std::int64_t>& prompt, std::int64_t max_tokens,
             const std::vector<std::int64_t>& eos_tokens,
             const std::function<bool(std::int64_t)>& on_token, nb::handle sampler,
             nb::handle logits_processors, std::optional<int> kv_bits, int kv_group_size,
             std::int64_t quantized_kv_start) {
            const lm::GenerateOptions options{
                .max_tokens = max_tokens,
                .eos_tokens = eos_tokens,
                .kv_bits = kv_bits,
                .kv_group_size = kv_group_size,
                .quantized_kv_start = quantized_kv_start,
                .sampler = sampler_from_python(sampler),
                .logits_processors = processors_from_python(logits_processors),
                .group = self.group};
            lm::GenerationStats stats;
            {
              nb::gil_scoped_release released;
              stats = lm::generate(*self.model, prompt, options, [&](std::int64_t token) {
                nb::gil_scoped_acquire acquired;
                return on_token(token);
              });
            }
            nb::dict out;
            out["prompt_tokens"] = stats.prompt_tokens;
            out["prompt_tps"] = stats.prompt_tps;
            out["generation_tokens"] = stats.generation_tokens;
            out["generation_tps"] = stats.generation_tps;
            out["peak_memory_mb"] = stats.peak_memory_mb;
            return out;
          },
          "prompt"_a, "max_tokens"_a, "eos_tokens"_a, "on_token"_a, "sampler"_a = nb::none(),
          "logits_processors"_a = nb::none(), "kv_bits"_a = nb::none(), "kv_group_size"_a = 64,
          "quantized_kv_start"_a = 0,
          "Generation (prefill, then one token at a time); on_token(id) -> bool (False\n"
          "stops); sampler / logits_processors as mlx-lm's (None: greedy); kv_bits quantizes\n"
          "the KV cache as mlx-lm's generate_step does. Returns the statistics as a dict.")
      .def_prop_ro("model_type", [](const LmModel& self) { return self.args.model_type; })
      .def_prop_ro("vocab_size", [](const LmModel& self) { return self.args.vocab_size; })
      .def_prop_ro("num_layers", [](const LmModel& self) { return self.args.num_hidden_layers; });

  lm_module.def(
      "load_model",
      [](const std::filesystem::path& path, const std::optional<distributed::Group>& group,
         bool lazy) {
        lm::LoadedLm loaded;
        {
          nb::gil_scoped_release released;
          loaded = group ? lm::sharded_load(path, *group) : lm::load(path, {.lazy = lazy});
        }
        return nb::make_tuple(LmModel{loaded.model, loaded.args, group},
                              nb::module_::import_("json").attr("loads")(loaded.config));
      },
      "path"_a, "group"_a = nb::none(), "lazy"_a = false,
      "(model, config) from an mlx-lm folder (llama, mistral, qwen2, qwen3, qwen3_moe);\n"
      "with a group, sharded over it as mlx-lm's Model.shard (every rank must call it).\n"
      "lazy as mlx_lm.load's: False reads the weights into memory, True leaves them on the\n"
      "mapped files.");
  lm_module.attr("SUPPORTED_MODEL_TYPES") = lm::supported_model_types();

  using Packed = std::tuple<Tensor, Tensor, Tensor>;
  lm_module.def(
      "quantized_scaled_dot_product_attention",
      [](const Tensor& q, const Packed& keys, const Packed& values, float scale,
         const std::optional<std::string>& mask, int group_size, int bits) {
        auto quantized = [](const Packed& p) {
          return Quantized{std::get<0>(p), std::get<1>(p), std::get<2>(p)};
        };
        return without_gil([&] {
          return lm::quantized_scaled_dot_product_attention(
              q, quantized(keys), quantized(values), scale, mask.value_or(""), group_size, bits);
        });
      },
      "queries"_a, "q_keys"_a, "q_values"_a, "scale"_a, "mask"_a.none(), "group_size"_a = 64,
      "bits"_a = 8,
      "As mlx_lm.models.base.quantized_scaled_dot_product_attention (batch 1; mask None or\n"
      "\"causal\"): q_keys and q_values are (wq, scales, biases) as mx.quantize gives them.");
}

}  // namespace qlinear::python
