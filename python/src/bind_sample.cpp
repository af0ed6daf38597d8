// Sampling (qlinear/sample.h) for qlinear.lm.sample_utils: samplers and logits processors
// as callables on numpy rows, and the conversion of what generate() is given (qlinear's
// own callables run in C++ without the GIL; any other Python callable is called per token
// with numpy arrays, as mlx-lm calls its callables with mx.arrays).
#include <nanobind/stl/function.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/vector.h>

#include "bindings.h"
#include "numpy_bridge.h"
#include "qlinear/sample.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace qlinear::python {
namespace {

struct PySampler {
  lm::Sampler sample;
};
struct PyLogitsProcessor {
  lm::LogitsProcessor process;
};

// fn(row) on each row (the last axis) of a float32 copy of x.
template <class Fn>
Tensor per_row(const Tensor& x, Fn&& fn) {
  if (x.ndim() < 1 || x.dim(-1) < 1) {
    throw std::invalid_argument("[sample_utils] expected log-probabilities [..., vocab], got " +
                                shape_string(x.shape()));
  }
  std::vector<float> values = x.to_floats();
  const auto vocab = static_cast<std::size_t>(x.dim(-1));
  for (std::size_t start = 0; start < values.size(); start += vocab) {
    fn(std::span<float>(values.data() + start, vocab));
  }
  return Tensor::from_floats(x.shape(), Dtype::float32, values);
}

std::vector<std::int64_t> token_ids(nb::handle tokens) {
  const nb::object numpy = nb::module_::import_("numpy");
  const nb::object flat =
      numpy.attr("ascontiguousarray")(tokens, "dtype"_a = numpy.attr("int64")).attr("reshape")(-1);
  const std::optional<Tensor> ids = tensor_from_numpy(flat, false);
  const auto* data = ids->data<std::int64_t>();
  return {data, data + ids->size()};
}

Tensor numpy_row(std::span<const float> row) {
  return Tensor::from_floats({1, static_cast<std::int64_t>(row.size())}, Dtype::float32, row);
}

}  // namespace

lm::Sampler sampler_from_python(nb::handle sampler) {
  if (sampler.is_none()) return {};
  if (nb::isinstance<PySampler>(sampler)) return nb::cast<const PySampler&>(sampler).sample;
  return [fn = nb::borrow<nb::object>(sampler)](std::span<const float> logprobs) {
    nb::gil_scoped_acquire acquired;
    const nb::object token = fn(numpy_row(logprobs));
    return nb::cast<std::int64_t>(
        nb::module_::import_("numpy").attr("asarray")(token).attr("reshape")(-1)[0].attr("item")());
  };
}

std::vector<lm::LogitsProcessor> processors_from_python(nb::handle processors) {
  std::vector<lm::LogitsProcessor> out;
  if (processors.is_none()) return out;
  for (nb::handle processor : processors) {
    if (nb::isinstance<PyLogitsProcessor>(processor)) {
      out.push_back(nb::cast<const PyLogitsProcessor&>(processor).process);
      continue;
    }
    out.push_back([fn = nb::borrow<nb::object>(processor)](std::span<const std::int64_t> tokens,
                                                           std::span<float> logits) {
      nb::gil_scoped_acquire acquired;
      const Tensor ids = Tensor::from_values<std::int64_t>(
          {static_cast<std::int64_t>(tokens.size())}, Dtype::int64, tokens);
      const nb::object result = fn(ids, numpy_row(logits));
      const std::optional<Tensor> processed = tensor_from_numpy(result, true);
      if (!processed || processed->size() != static_cast<std::int64_t>(logits.size())) {
        throw std::invalid_argument(
            "[generate] a logits processor must return logits of shape (1, " +
            std::to_string(logits.size()) + ").");
      }
      const std::vector<float> values = processed->to_floats();
      std::copy(values.begin(), values.end(), logits.begin());
    });
  }
  return out;
}

void bind_sample(nb::module_& lm_module) {
  nb::class_<PySampler>(lm_module, "Sampler",
                        "A token picker from make_sampler: sampler(logprobs [..., vocab]) -> "
                        "token ids [...] (int64)")
      .def("__call__", [](const PySampler& self, const Tensor& logprobs) {
        std::vector<std::int64_t> tokens;
        per_row(logprobs, [&](std::span<float> row) { tokens.push_back(self.sample(row)); });
        Shape shape = logprobs.shape();
        shape.pop_back();
        return Tensor::from_values<std::int64_t>(shape, Dtype::int64, tokens);
      });
  nb::class_<PyLogitsProcessor>(lm_module, "LogitsProcessor",
                                "processor(tokens, logits [..., vocab]) -> new float32 logits")
      .def("__call__", [](const PyLogitsProcessor& self, nb::handle tokens, const Tensor& logits) {
        const std::vector<std::int64_t> ids = token_ids(tokens);
        return per_row(logits, [&](std::span<float> row) { self.process(ids, row); });
      });

  lm_module.def(
      "make_sampler",
      [](float temp, float top_p, float min_p, std::int64_t min_tokens_to_keep, std::int64_t top_k,
         std::uint64_t seed) {
        return PySampler{lm::make_sampler({temp, top_p, min_p, min_tokens_to_keep, top_k}, seed)};
      },
      "temp"_a, "top_p"_a, "min_p"_a, "min_tokens_to_keep"_a, "top_k"_a, "seed"_a);
  lm_module.def(
      "make_logits_processors",
      [](const std::map<std::int64_t, float>& logit_bias, std::optional<float> repetition_penalty,
         std::int64_t repetition_context_size, std::optional<float> presence_penalty,
         std::int64_t presence_context_size, std::optional<float> frequency_penalty,
         std::int64_t frequency_context_size) {
        std::vector<PyLogitsProcessor> out;
        for (lm::LogitsProcessor& p : lm::make_logits_processors(
                 {logit_bias, repetition_penalty, repetition_context_size, presence_penalty,
                  presence_context_size, frequency_penalty, frequency_context_size})) {
          out.push_back({std::move(p)});
        }
        return out;
      },
      "logit_bias"_a, "repetition_penalty"_a.none(), "repetition_context_size"_a,
      "presence_penalty"_a.none(), "presence_context_size"_a, "frequency_penalty"_a.none(),
      "frequency_context_size"_a);
  lm_module.def(
      "apply_top_p",
      [](const Tensor& logprobs, float top_p) {
        return per_row(logprobs, [&](std::span<float> row) { lm::apply_top_p(row, top_p); });
      },
      "logprobs"_a, "top_p"_a);
  lm_module.def(
      "apply_min_p",
      [](const Tensor& logprobs, float min_p, std::int64_t min_tokens_to_keep) {
        return per_row(logprobs, [&](std::span<float> row) {
          lm::apply_min_p(row, min_p, min_tokens_to_keep);
        });
      },
      "logprobs"_a, "min_p"_a, "min_tokens_to_keep"_a = 1);
  lm_module.def(
      "apply_top_k",
      [](const Tensor& logprobs, std::int64_t top_k) {
        return per_row(logprobs, [&](std::span<float> row) { lm::apply_top_k(row, top_k); });
      },
      "logprobs"_a, "top_k"_a);
}

}  // namespace qlinear::python
