// Run-time settings of the compute kernels: how many threads, which instruction set.
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

// The kernels in use: "scalar", "avx2", "avx512" or "neon". The default is QLINEAR_ISA if
// set, else the fastest one this CPU runs.
std::string_view active_isa();
// Every instruction set this CPU runs, "scalar" (the reference) first.
std::vector<std::string> supported_isas();
// Selects the kernels by name; throws std::invalid_argument if this CPU cannot run them.
void set_isa(std::string_view name);

}  // namespace qlinear
