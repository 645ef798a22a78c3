#!/usr/bin/env python3
"""Markdown tables from criterion's results (target/criterion/*/*/new/), for BENCHMARKS.md.

One table per criterion group (e.g. ops/cpu-f32/fmnist): median time per call, and throughput as
samples/s (Elements throughput; parameters/s for adam_step) or GB/s (Bytes throughput).
Usage: python3 benches/criterion_table.py [target/criterion] [group-prefix ...]
"""

import json
import pathlib
import sys


def fmt_time(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def fmt_rate(x):
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.3g} {unit}"
    return f"{x:.3g}"


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
    prefixes = sys.argv[2:]
    groups = {}
    for bench in sorted(root.glob("*/*/new/benchmark.json")):
        meta = json.loads(bench.read_text())
        group = meta["group_id"]
        if prefixes and not any(group.startswith(p) for p in prefixes):
            continue
        est = json.loads((bench.parent / "estimates.json").read_text())
        median = est["median"]["point_estimate"]  # ns per iteration
        tp = meta.get("throughput") or {}
        if "Bytes" in tp:
            rate = f"{tp['Bytes'] / median:.2f} GB/s"
        elif "Elements" in tp:
            unit = "params/s" if meta["function_id"] == "adam_step" else "samples/s"
            rate = f"{fmt_rate(tp['Elements'] / median * 1e9)} {unit}"
        else:
            rate = ""
        groups.setdefault(group, []).append((meta["function_id"], fmt_time(median), rate))
    for group, rows in groups.items():
        print(f"\n### {group}\n")
        print("| op | median time | throughput |")
        print("|---|---|---|")
        for name, t, r in rows:
            print(f"| {name} | {t} | {r} |")


if __name__ == "__main__":
    main()
