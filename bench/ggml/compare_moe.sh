#!/usr/bin/env bash
# The same-run comparison of docs/kernels.md (issue 12): MoE prefill, T=512 tokens each
# routed to 8 of 128 experts (Qwen3-30B-A3B gate/up and down shapes, 4-bit), qlinear's
# gather_qmm (exact and int8 precision) against ggml's mul_mat_id on q4_0 repacked,
# alternated three times.
#
#   bench/ggml/compare_moe.sh QLINEAR_BINARY GGML_BENCH_BINARY [THREADS]
set -euo pipefail
qlinear="$1"
ggml="$2"
threads="${3:-1}"
routing=(--experts 128 --top-k 8 --threads "$threads")
for repetition in 1 2 3; do
  date -u +"%T UTC, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  for shape in "2048 768" "768 2048"; do
    read -r k n <<<"$shape"
    "$ggml" --types q4_0 --m 512 --k "$k" --n "$n" "${routing[@]}" --cold 0 --min-seconds 1 2>/dev/null
    "$qlinear" bench --op gather_qmm --tokens 512 --k "$k" --n "$n" --bits 4 --group-size 64 \
      "${routing[@]}" --cold off --baselines none --precision exact,int8 | tail -n 2
  done
done
