// The layers: Module, Linear, Embedding, QuantizedLinear, QuantizedEmbedding, quantize().
#pragma once

#include "qlinear/nn/layers.h"
#include "qlinear/nn/module.h"
#include "qlinear/nn/quantize.h"
