#!/usr/bin/env bash
# Fails when a function of BINARY... outside the kernels of an instruction set holds an
# AVX or AVX-512 instruction.
#
# Each kernel unit is compiled for its instruction set, and so is every inline or template
# function it emits out of line (std::string's constructors, std::chrono's operator-):
# the linker keeps one copy of such a function for the whole program, and when it keeps
# the kernel unit's copy, code that runs on every CPU calls AVX-512 instructions
# (seen: std::chrono::operator- from bf16_units.cpp at -Og, SIGILL on an AVX2 CPU).
# Baseline x86-64 has no VEX- or EVEX-encoded instruction (mnemonic v...), no ymm, zmm
# or mask register; a function may have them only if its name is in a kernel namespace
# (demangled, or mangled where c++filt gives up on vector types).
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 BINARY..." >&2; exit 2; }
status=0
for binary in "$@"; do
  # grep keeps the function headers and the vector instructions (fast); awk names the
  # functions that hold one; c++filt demangles only those.
  leaks=$(objdump -d --no-show-raw-insn "$binary" |
    grep -E '^[0-9a-f]+ <|:[[:space:]]+v[a-z0-9]+[[:space:]]|%[yz]mm|%k[0-7]' |
    awk '/^[0-9a-f]+ </ { name = $2; next } name != "" && !(name in seen) { seen[name] = 1; print name }' |
    sed 's/^<//; s/>:$//' | c++filt |
    grep -v -E '(avx2|avx512|avx512_bf16|x86)::|[0-9](avx2|avx512|avx512_bf16|x86)[0-9]' || true)
  if [ -n "$leaks" ]; then
    echo "$binary: vector instructions outside the kernels in:" >&2
    echo "$leaks" | sed 's/^/  /' >&2
    status=1
  fi
done
[ $status -eq 0 ] && echo "$*: AVX and AVX-512 instructions only in kernel functions"
exit $status
