#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers of outside bytes (libFuzzer, ASan + UBSan).
#
#   scripts/fuzz.sh --list                             the targets
#   scripts/fuzz.sh TARGET SECONDS [EXTRA_CORPUS_DIR]  build if needed, run TARGET that long
#
# Starts from the seeds in fuzz/corpus/TARGET; new inputs go to EXTRA_CORPUS_DIR if given
# (which is read too), else to a scratch folder removed afterwards. A crash, sanitizer
# report, timeout or leak leaves its input as crash-*/timeout-*/leak-* in the current folder
# and makes the script exit non-zero. Prints the executions run. Needs clang with libFuzzer
# (scripts/install_deps.sh); BUILD_DIR (default build-fuzz) is the build folder.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGETS=(safetensors config index gguf)
BUILD_DIR="${BUILD_DIR:-$ROOT/build-fuzz}"

usage() {
  echo "usage: $0 --list | TARGET SECONDS [EXTRA_CORPUS_DIR]" >&2
  exit 2
}

if [[ "${1:-}" == "--list" ]]; then
  printf '%s\n' "${TARGETS[@]}"
  exit 0
fi
[[ $# -ge 2 && $# -le 3 ]] || usage
TARGET="$1"
SECONDS_TO_RUN="$2"
[[ " ${TARGETS[*]} " == *" $TARGET "* ]] || { echo "unknown target '$TARGET'; targets: ${TARGETS[*]}" >&2; exit 2; }
[[ "$SECONDS_TO_RUN" =~ ^[0-9]+$ && "$SECONDS_TO_RUN" -gt 0 ]] || usage

cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DQLINEAR_FUZZ=ON -DQLINEAR_BUILD_TESTS=OFF -DQLINEAR_BUILD_TOOLS=OFF -DQLINEAR_BUILD_BENCH=OFF >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target "${TARGET}_fuzzer" >/dev/null

if [[ $# -eq 3 ]]; then
  CORPUS="$3"
  mkdir -p "$CORPUS"
  SCRATCH=""
else
  CORPUS="$(mktemp -d)"
  SCRATCH="$CORPUS"
fi
LOG="$(mktemp)"
trap 'rm -f "$LOG"; [[ -z "$SCRATCH" ]] || rm -rf "$SCRATCH"' EXIT

# The new corpus comes first: libFuzzer writes new inputs to its first folder.
status=0
"$BUILD_DIR/fuzz/${TARGET}_fuzzer" -max_total_time="$SECONDS_TO_RUN" -timeout=10 -rss_limit_mb=2048 \
  -dict="$ROOT/fuzz/json.dict" -print_final_stats=1 "$CORPUS" "$ROOT/fuzz/corpus/$TARGET" \
  >"$LOG" 2>&1 || status=$?
executions="$(sed -n 's/^stat::number_of_executed_units: *//p' "$LOG")"
if [[ $status -ne 0 ]]; then
  tail -n 60 "$LOG" >&2
  echo "$TARGET: FAILED (exit $status) after ${executions:-?} executions" >&2
  exit 1
fi
echo "$TARGET: ${executions:-?} executions in ${SECONDS_TO_RUN} s, no crash; corpus $(ls "$CORPUS" | wc -l) files"
