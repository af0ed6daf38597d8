#!/usr/bin/env bash
# The same-run comparison of docs/kernels.md (issue 15): the OpenMP read probe, qlinear
# bench and ggml's best CPU path (bench/ggml/ggml_mul_mat_bench.cpp) one after the other,
# M=1 and M=8 cold on 4096x14336, M=512 warm on 4096x4096, 1 and 2 threads; the affine
# M=8 and M=512 rows and the FP4 M=8 rows also with the int8-activation opt-in.
#
#   bench/ggml/compare.sh QLINEAR_BINARY GGML_BENCH_BINARY [THREADS]
set -euo pipefail
qlinear="$1"
ggml="$2"
threads="${3:-1,2}"
here="$(cd "$(dirname "$0")" && pwd)"
probe="$(mktemp -d)/bandwidth_probe"
cc -O3 -fopenmp "$here/../bandwidth_probe.c" -o "$probe"
date -u +"%F %T UTC, load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$probe" ${threads//,/ }
common=(--k 4096 --n 14336 --threads "$threads" --cold on --min-seconds 0.5)
"$qlinear" bench --m 1 --mode affine --bits 4,8 --group-size 64 "${common[@]}" --baselines stream
"$qlinear" bench --m 1 --mode mxfp4,nvfp4,mxfp8 "${common[@]}" --baselines stream
"$qlinear" bench --m 8 --mode affine,mxfp4,nvfp4 --bits 4 "${common[@]}" --baselines none
# The int8-activation opt-in (ggml quantizes x to int8 too) at 4 and 8 bits, and FP4.
"$qlinear" bench --m 8 --bits 4,8 --group-size 64 "${common[@]}" --baselines none --precision int8
"$qlinear" bench --m 8 --mode mxfp4,nvfp4 "${common[@]}" --baselines none --precision int8
"$ggml" --types q4_0,q4_K,q8_0,mxfp4 --m 1,8 --k 4096 --n 14336 --threads "$threads" 2>/dev/null
"$qlinear" bench --m 512 --mode affine,mxfp4,nvfp4 --bits 4 --k 4096 --n 4096 --threads "$threads" \
  --cold off --baselines none
"$qlinear" bench --m 512 --bits 4,8 --group-size 64 --k 4096 --n 4096 --threads "$threads" \
  --cold off --baselines none --precision int8
"$ggml" --types q4_0,q4_K,q8_0,mxfp4 --m 512 --k 4096 --n 4096 --threads "$threads" --cold 0 \
  2>/dev/null
"$probe" ${threads//,/ }
date -u +"%F %T UTC, load average $(cut -d' ' -f1-3 /proc/loadavg)"
