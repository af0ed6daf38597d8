// Umbrella header: the whole public API.
#pragma once

#include "qlinear/convert.h"
#include "qlinear/distributed.h"
#include "qlinear/dtype.h"
#include "qlinear/float_ops.h"
#include "qlinear/gguf.h"
#include "qlinear/io.h"
#include "qlinear/lm.h"
#include "qlinear/model.h"
#include "qlinear/nn.h"
#include "qlinear/ops.h"
#include "qlinear/random.h"
#include "qlinear/runtime.h"
#include "qlinear/tensor.h"
