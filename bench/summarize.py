#!/usr/bin/env python3
"""Turns ldapbench JSON lines into a markdown table with ratios.

One row per workload x connections x target (medians over repeats), then a
comparison of pwgate with direct and HAProxy measured in the same run.
Usage: summarize.py results.jsonl
"""
import json, statistics, sys
from collections import defaultdict


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def spread(xs):
    if len(xs) < 2 or med(xs) == 0:
        return 0.0
    return (max(xs) - min(xs)) / 2 / med(xs) * 100


def main(path):
    cells = defaultdict(list)
    order = []
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            target = r["label"].split()[0]
            key = (r["op"], r["conns"], target)
            if key not in cells:
                order.append(key)
            cells[key].append(r)
    print("| op | conns | target | ops/s | ± | p50 µs | p99 µs | p99.9 µs | proxy cpu-s/10k | slapd | ldapbench | total | errors |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    summary = {}
    for key in order:
        rs = cells[key]
        ops = [r["ops_per_s"] for r in rs]
        cpu = lambda name: med([r["cpu_per_10k"].get(name, 0.0) for r in rs])
        row = {
            "ops": med(ops), "spread": spread(ops),
            "p50": med([r["p50_us"] for r in rs]), "p99": med([r["p99_us"] for r in rs]),
            "p999": med([r["p999_us"] for r in rs]),
            "proxy": cpu("proxy"), "slapd": cpu("slapd"), "gen": cpu("ldapbench"),
            "errors": sum(r["errors"] for r in rs),
        }
        row["total"] = row["proxy"] + row["slapd"] + row["gen"]
        summary[key] = row
        op, conns, target = key
        print(f"| {op} | {conns} | {target} | {row['ops']:.0f} | {row['spread']:.1f}% | {row['p50']:.0f} | {row['p99']:.0f} | "
              f"{row['p999']:.0f} | {row['proxy']:.3f} | {row['slapd']:.3f} | {row['gen']:.3f} | {row['total']:.3f} | {row['errors']} |")
    print()
    print("| op | conns | pwgate ops/s vs direct | vs haproxy | pwgate proxy cpu vs haproxy | p99 − haproxy p99 µs |")
    print("|---|---:|---:|---:|---:|---:|")
    seen = set()
    for op, conns, _ in order:
        if (op, conns) in seen:
            continue
        seen.add((op, conns))
        g = summary.get((op, conns, "pwgate"))
        d = summary.get((op, conns, "direct"))
        h = summary.get((op, conns, "haproxy"))
        if not g:
            continue
        vs_d = f"{g['ops'] / d['ops']:.2f}" if d and d["ops"] else "-"
        vs_h = f"{g['ops'] / h['ops']:.2f}" if h and h["ops"] else "-"
        cpu_h = f"{g['proxy'] / h['proxy']:.2f}" if h and h["proxy"] else "-"
        p99_h = f"{g['p99'] - h['p99']:+.0f}" if h else "-"
        print(f"| {op} | {conns} | {vs_d} | {vs_h} | {cpu_h} | {p99_h} |")


if __name__ == "__main__":
    main(sys.argv[1])
