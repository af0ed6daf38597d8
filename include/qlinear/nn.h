// The layers: Module, Linear, Embedding, QuantizedLinear, QuantizedEmbedding, quantize(),
// and the mixture-of-experts layers (SwitchLinear, QuantizedSwitchLinear, SwitchGLU, SwitchMLP).
#pragma once

#include "qlinear/nn/layers.h"
#include "qlinear/nn/module.h"
#include "qlinear/nn/quantize.h"
#include "qlinear/nn/sharded_layers.h"
#include "qlinear/nn/switch_layers.h"
