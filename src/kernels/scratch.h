// Per-thread scratch memory for the kernels, reused across calls so that a matmul does
// not allocate. Defined in a plain translation unit: instruction-set kernels must not
// instantiate library templates (their out-of-line copies could carry wide instructions).
#pragma once

#include <cstddef>

namespace qlinear::kernels {

// Independent buffers one thread may hold at the same time.
enum class ScratchSlot { input, output, sums, panel, count };

// At least `count` floats, 64-byte aligned, valid until this thread asks for the same
// slot again. Contents are unspecified.
float* scratch_floats(ScratchSlot slot, std::size_t count);

}  // namespace qlinear::kernels
