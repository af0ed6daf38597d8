// Which multiplier the bfloat16 matmul uses (bf16_units.h): the AMX check and the
// measured rate of vdpbf16ps against float32 FMAs.
#include "kernels/x86/bf16_units.h"

#include <asm/prctl.h>
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <limits>

namespace qlinear::kernels::avx512_bf16 {
namespace {

std::atomic<bool> amx_allowed{true};
std::atomic<bool> vector_forced{false};

// CPUID leaf 7: EDX bit 22 AMX-BF16, bit 24 AMX-TILE; then Linux's per-process grant of
// the tile data state (XFEATURE_XTILEDATA, component 18).
bool amx_granted() {
  static const bool granted = [] {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
    if ((edx & (1u << 22)) == 0 || (edx & (1u << 24)) == 0) return false;
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, 18) == 0;
  }();
  return granted;
}

// Nanoseconds per instruction of `rounds` x 16 independent `op zmm16, zmm16, zmm<i>`
// (i = 0..15) on zeros: 16 chains cover either instruction's latency at its issue rate,
// so the loop times throughput. Assembly, because compiled code would see through a
// loop whose result nobody uses (and zeros keep denormals out of it).
#define QLINEAR_TIME_CHAINS(op)                                                                    \
  [](long rounds) {                                                                                \
    const auto start = std::chrono::steady_clock::now();                                           \
    asm volatile(                                                                                  \
        ".irp r,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16\n\t"                                      \
        "vpxord %%zmm\\r, %%zmm\\r, %%zmm\\r\n\t"                                                  \
        ".endr\n\t"                                                                                \
        "1:\n\t"                                                                                   \
        ".irp r,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n\t" op                                      \
        " %%zmm16, %%zmm16, %%zmm\\r\n\t"                                                          \
        ".endr\n\t"                                                                                \
        "dec %0\n\t"                                                                               \
        "jnz 1b"                                                                                   \
        : "+r"(rounds)                                                                             \
        :                                                                                          \
        : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", \
          "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "cc");                             \
    const auto stop = std::chrono::steady_clock::now();                                            \
    return std::chrono::duration<double, std::nano>(stop - start).count();                         \
  }

double measure_speedup() {
  const auto fma = QLINEAR_TIME_CHAINS("vfmadd231ps");
  const auto dot = QLINEAR_TIME_CHAINS("vdpbf16ps");
  // The best of alternated runs: the least disturbed by other processes and by the
  // vector units' power-up, both measured on the same host.
  constexpr long kRounds = 1024;
  double fma_ns = std::numeric_limits<double>::infinity();
  double dot_ns = fma_ns;
  for (int run = 0; run < 8; ++run) {
    fma_ns = std::min(fma_ns, fma(kRounds));
    dot_ns = std::min(dot_ns, dot(kRounds));
  }
  // Multiply-adds: 16 per FMA, 32 per vdpbf16ps.
  return (32.0 / dot_ns) / (16.0 / fma_ns);
}
#undef QLINEAR_TIME_CHAINS

}  // namespace

bool amx_usable() {
  return amx_allowed.load(std::memory_order_relaxed) && amx_granted();
}

void allow_amx(bool allowed) {
  amx_allowed.store(allowed, std::memory_order_relaxed);
}

double vector_bf16_speedup() {
  static const double speedup = measure_speedup();
  return speedup;
}

bool vector_bf16_usable() {
  return vector_forced.load(std::memory_order_relaxed) || vector_bf16_speedup() > 1.0;
}

void force_vector_bf16(bool forced) {
  vector_forced.store(forced, std::memory_order_relaxed);
}

}  // namespace qlinear::kernels::avx512_bf16
