// Umbrella header: the whole public API.
#pragma once

#include "qlinear/dtype.h"
#include "qlinear/io.h"
#include "qlinear/ops.h"
#include "qlinear/runtime.h"
#include "qlinear/tensor.h"
