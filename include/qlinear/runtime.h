// Run-time settings of the compute kernels: how many threads, which instruction set, how
// precisely quantized_matmul treats its activations.
//
// Threads: the ops (quantize, dequantize, quantized_matmul) and the layers' forward calls
// may be made from any number of threads at once; one thread pool serves one caller at a
// time and the others run on their own thread, with bit-identical results. Every setter
// here is safe to call at any time, also while other threads run ops: the settings are
// atomic, and an op reads each one once when it starts, so it finishes with the kernels,
// precision and thread count it began with (tests/nn/concurrency_test.cpp, run under
// ThreadSanitizer). Not safe: changing a module (load_weights, update_modules, freeze)
// while another thread runs or reads it, as with any C++ object.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace qlinear {

// Threads an operation may use, the calling thread included. The default is
// QLINEAR_NUM_THREADS if set, else the number of cores. Results do not depend on it.
int num_threads();
// n <= 0 restores the default.
void set_num_threads(int n);

// The kernels in use: "scalar", "avx2", "avx512", "avx512_bf16" or "neon". The default is
// QLINEAR_ISA if set, else the fastest one this CPU runs.
std::string_view active_isa();
// Every instruction set this CPU runs, "scalar" (the reference) first.
std::vector<std::string> supported_isas();
// Selects the kernels by name; throws std::invalid_argument if this CPU cannot run them.
void set_isa(std::string_view name);

// How quantized_matmul may round its activations x, like PyTorch's
// set_float32_matmul_precision and ONNX Runtime's accuracy_level. A permission, not an
// order: a kernel with no faster path for the setting computes as with `exact`, so results
// depend on the setting only where the CPU has the instructions (docs/kernels.md gives the
// paths and their measured error).
enum class MatmulPrecision {
  exact,     // the default: x as given (widened to float32), float32 sums
  bfloat16,  // x (and, with transpose=false, the dequantized weights) may be rounded to
             // bfloat16, nearest even; float32 sums
  int8,      // x may be quantized to int8 per row and weight group (scale max|x|/127)
};
// The default is QLINEAR_MATMUL_PRECISION (exact, bfloat16 or int8) if set, else exact.
MatmulPrecision matmul_precision();
void set_matmul_precision(MatmulPrecision precision);
std::string_view to_string(MatmulPrecision precision);
// "exact", "bfloat16" or "int8"; anything else throws std::invalid_argument.
MatmulPrecision parse_matmul_precision(std::string_view name);

}  // namespace qlinear
