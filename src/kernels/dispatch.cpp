#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/kernels.h"
#include "kernels/reference/reference.h"
#include "kernels/tables.h"
#include "qlinear/runtime.h"

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

namespace qlinear::kernels {
namespace {

constexpr KernelTable kReference{"scalar",
                                 reference::quantize,
                                 reference::dequantize,
                                 reference::quantized_matmul,
                                 reference::gather_qmm,
                                 &reference::float_kernels};

// Tables in order of preference, worst first; each only if this CPU runs it.
std::vector<const KernelTable*> detect_supported() {
  std::vector<const KernelTable*> tables = {&kReference};
#if defined(QLINEAR_X86_KERNELS)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      __builtin_cpu_supports("f16c")) {
    tables.push_back(&avx2_table());
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("bmi2")) {
      tables.push_back(&avx512_table());
      if (__builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512vnni") &&
          __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512vbmi2") &&
          __builtin_cpu_supports("gfni")) {
        tables.push_back(&avx512_bf16_table());
      }
    }
  }
#endif
#if defined(QLINEAR_NEON_KERNELS)
  tables.push_back(&neon_table());  // Advanced SIMD is part of every aarch64 CPU
#endif
  return tables;
}

const KernelTable& find_table(std::string_view name) {
  for (const KernelTable* t : supported_tables()) {
    if (t->isa == name) return *t;
  }
  std::string names;
  for (const KernelTable* t : supported_tables()) {
    names += (names.empty() ? "" : ", ") + std::string(t->isa);
  }
  throw std::invalid_argument("[qlinear] instruction set '" + std::string(name) +
                              "' is not supported on this CPU; supported: " + names);
}

const KernelTable* choose_default() {
  const char* forced = std::getenv("QLINEAR_ISA");
  if (forced == nullptr || *forced == '\0') return supported_tables().back();
  return &find_table(forced);
}

std::atomic<const KernelTable*>& active() {
  static std::atomic<const KernelTable*> table{choose_default()};
  return table;
}

}  // namespace

const KernelTable& reference_table() {
  return kReference;
}

std::span<const KernelTable* const> supported_tables() {
  static const std::vector<const KernelTable*> tables = detect_supported();
  return tables;
}

const KernelTable& active_table() {
  return *active().load(std::memory_order_acquire);
}

}  // namespace qlinear::kernels

namespace qlinear {

int num_threads() {
  return core::num_threads();
}
void set_num_threads(int n) {
  core::set_num_threads(n);
}

std::string_view active_isa() {
  return kernels::active_table().isa;
}

std::vector<std::string> supported_isas() {
  std::vector<std::string> names;
  for (const kernels::KernelTable* t : kernels::supported_tables()) names.emplace_back(t->isa);
  return names;
}

void set_isa(std::string_view name) {
  kernels::active().store(&kernels::find_table(name), std::memory_order_release);
}

}  // namespace qlinear
