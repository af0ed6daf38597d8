// The decoder-only transformer llama, qwen2 and qwen3 share (mlx-lm's llama.py shape):
// embedding, blocks of pre-norm grouped-query attention with RoPE and a SwiGLU MLP,
// final norm, tied or separate output head. The architecture's ModelArgs say which
// biases and norms a block has.
#pragma once

#include <memory>
#include <string>

#include "qlinear/lm.h"
#include "qlinear/model.h"

namespace qlinear::lm::detail {

// Binds the layers of a loaded module tree; FileError (naming `source` and the path)
// when one is missing or its shape does not fit args.
std::shared_ptr<const Model> make_decoder(ModelArgs args, LoadedModel loaded,
                                          const std::string& source);

}  // namespace qlinear::lm::detail
