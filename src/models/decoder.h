// The decoder-only transformer llama, qwen2 and qwen3 share (mlx-lm's llama.py shape):
// embedding, blocks of pre-norm grouped-query attention with RoPE and a SwiGLU MLP,
// final norm, tied or separate output head. The architecture's ModelArgs say which
// biases and norms a block has.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "qlinear/lm.h"
#include "qlinear/model.h"

namespace qlinear::lm::detail {

// The loaded layers by path, checked against the config: FileError (naming the folder
// and the path) when one is missing or does not fit.
class LayerBinder {
 public:
  virtual ~LayerBinder() = default;
  virtual const nn::Module& module(const std::string& path) const = 0;
  // A Linear or QuantizedLinear mapping `in` to `out` features, with a bias or not.
  virtual const nn::Unary& linear(const std::string& path, std::int64_t in, std::int64_t out,
                                  bool bias) const = 0;
  [[noreturn]] virtual void fail(const std::string& message) const = 0;
  // The group the model is sharded over (tensor parallelism; see sharded_load), if any.
  virtual const std::optional<distributed::Group>& group() const = 0;
  // How many ranks share each sharded layer: the group's size, 1 unsharded.
  std::int64_t ranks() const { return group() ? group()->size() : 1; }
};

// A block's MLP: (1, T, hidden) float32 in, (1, T, hidden) out.
using Mlp = std::function<Tensor(const Tensor& x)>;
// Builds block `layer`'s MLP from the layers under "model.layers.<layer>.mlp"; an
// architecture with another MLP than the dense one passes its own to make_decoder.
using MlpBinder =
    std::function<Mlp(const LayerBinder& layers, const ModelArgs& args, std::int64_t layer)>;

// down_proj(swiglu(gate_proj(x), up_proj(x))) of the layers under `prefix` ("...mlp.").
Mlp dense_mlp(const LayerBinder& layers, const std::string& prefix, std::int64_t hidden,
              std::int64_t intermediate, bool bias);

// Binds the layers of a loaded module tree; FileError (naming `source` and the path)
// when one is missing or its shape does not fit args. `mlp` builds each block's MLP
// (default: dense_mlp with args.intermediate_size). With a group, the tree must have been
// sharded over it by shard_decoder.
std::shared_ptr<const Model> make_decoder(ModelArgs args, LoadedModel loaded,
                                          const std::string& source, const MlpBinder& mlp = {},
                                          std::optional<distributed::Group> group = {});

// shard.cpp: mlx-lm's Model.shard(group) on the module tree of a loaded decoder (see
// sharded_load): the sharded layers replace the projections, experts are sharded in place.
void shard_decoder(nn::Module& model, const ModelArgs& args, const distributed::Group& group);

// qwen3_moe.cpp: the MLP of qwen3_moe's blocks (sparse experts or dense).
Mlp qwen3_moe_mlp(const LayerBinder& layers, const ModelArgs& args, std::int64_t layer);

}  // namespace qlinear::lm::detail
