// AMX tile operations with the tile number as a template argument, shared by the bfloat16
// and int8 kernels. GCC 12's intrinsics paste the number into the instruction text (so
// they take only literals), and their loads and stores tell the compiler nothing about
// the memory they touch; these do (a "memory" clobber), so that vector stores before a
// tile load, and vector loads after a tile store, stay where they are.
#pragma once

namespace qlinear::kernels::avx512_bf16::amx_tile {

template <int tile>
inline void zero() {
  asm volatile("tilezero %%tmm%c0" ::"i"(tile));
}

template <int tile>
inline void load(const void* base, long stride) {
  asm volatile("tileloadd (%0,%1,1), %%tmm%c2" ::"r"(base), "r"(stride), "i"(tile) : "memory");
}

template <int tile>
inline void store(void* base, long stride) {
  asm volatile("tilestored %%tmm%c2, (%0,%1,1)" ::"r"(base), "r"(stride), "i"(tile) : "memory");
}

}  // namespace qlinear::kernels::avx512_bf16::amx_tile
