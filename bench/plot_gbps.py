#!/usr/bin/env python3
"""GB/s of quantized_matmul against M, one line per bits value, from `qlinear bench --json`.

    qlinear bench --json --k 4096 --n 14336 --group-size 64 --threads 1 > bench.jsonl
    python3 bench/plot_gbps.py bench.jsonl docs/bench_gbps.png

Needs matplotlib (pip install matplotlib). Warm rows only; the stream_read row of the same
thread count, if present, is drawn as the memory-bandwidth ceiling.
"""
import json
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(src, dst):
    rows = [json.loads(line) for line in open(src) if line.startswith("{")]
    lines = defaultdict(list)
    ceiling = {}
    for r in rows:
        if r["op"] == "stream_read":
            ceiling[r["threads"]] = r["gbps"]
        elif r["op"] == "quantized_matmul" and not r["cold"]:
            key = (r["bits"], r["group_size"], r["threads"], r["K"], r["N"], r["dtype"])
            lines[key].append((r["M"], r["gbps"]))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (bits, gs, threads, K, N, dtype), points in sorted(lines.items()):
        points.sort()
        ax.plot([m for m, _ in points], [g for _, g in points], marker="o",
                label=f"{bits}-bit g{gs}, {threads}T, {K}x{N}, {dtype}")
    for threads, gbps in sorted(ceiling.items()):
        ax.axhline(gbps, linestyle="--", color="gray")
        ax.text(1, gbps, f" memory read, {threads}T", va="bottom", color="gray")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("M (rows of x)")
    ax.set_ylabel("GB/s of weights, scales and biases")
    ax.set_title("qlinear quantized_matmul (affine)")
    ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
