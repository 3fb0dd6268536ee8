#!/usr/bin/env python3
"""Turns ldapbench JSON lines into a markdown table with ratios.

One row per workload x connections x target (medians over repeats), then a
comparison of pwgate with direct and HAProxy measured in the same run, and,
when their targets ran: scaling from one to two threads (pwgate1 / pwgate,
haproxy / haproxy2), the password path with account lookups
(pwgate-lookup, pwgate-nocache), and pwgate with TLS 1.3 session tickets
(pwgate-tickets).
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
    print("| op | conns | target | ops/s | ± | p50 µs | p99 µs | p99.9 µs | proxy cpu-s/10k | slapd | ldapbench | total | proxy switches/op | errors |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
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
            "switches": med([r.get("switches_per_op", {}).get("proxy", 0.0) for r in rs]),
        }
        row["total"] = row["proxy"] + row["slapd"] + row["gen"]
        summary[key] = row
        op, conns, target = key
        print(f"| {op} | {conns} | {target} | {row['ops']:.0f} | {row['spread']:.1f}% | {row['p50']:.0f} | {row['p99']:.0f} | "
              f"{row['p999']:.0f} | {row['proxy']:.3f} | {row['slapd']:.3f} | {row['gen']:.3f} | {row['total']:.3f} | "
              f"{row['switches']:.2f} | {row['errors']} |")
    print()
    print("| op | conns | pwgate ops/s vs direct | vs haproxy | pwgate proxy cpu vs haproxy | p99 − haproxy p99 µs |")
    print("|---|---:|---:|---:|---:|---:|")
    # Each workload x connections once, in the order they ran.
    workloads = list(dict.fromkeys((op, conns) for op, conns, _ in order))
    for op, conns in workloads:
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

    if any(t == "pwgate-tickets" for (_, _, t) in order):
        print()
        print("pwgate sending TLS 1.3 session tickets (pwgate-tickets) against HAProxy:")
        print()
        print("| op | conns | ops/s vs haproxy | proxy cpu vs haproxy | p99 − haproxy p99 µs |")
        print("|---|---:|---:|---:|---:|")
        for op, conns in workloads:
            g = summary.get((op, conns, "pwgate-tickets"))
            h = summary.get((op, conns, "haproxy"))
            if not g or not h or not h["ops"] or not h["proxy"]:
                continue
            print(f"| {op} | {conns} | {g['ops'] / h['ops']:.2f} | {g['proxy'] / h['proxy']:.2f} | {g['p99'] - h['p99']:+.0f} |")

    cells_of = lambda op, conns: {t: summary[(o, c, t)] for (o, c, t) in summary if (o, c) == (op, conns)}
    pairs = [("pwgate1", "pwgate"), ("haproxy", "haproxy2")]
    if any(t in ("pwgate1", "haproxy2") for (_, _, t) in order):
        print()
        print("Scaling from 1 to 2 threads (ops/s with 2 threads / ops/s with 1; proxy cpu-s/10k, 1 → 2):")
        print()
        print("| op | conns | pwgate 2/1 | pwgate cpu 1 → 2 | haproxy 2/1 | haproxy cpu 1 → 2 |")
        print("|---|---:|---:|---:|---:|---:|")
        for op, conns in workloads:
            c = cells_of(op, conns)
            cols = []
            for one, two in pairs:
                if one in c and two in c and c[one]["ops"]:
                    cols += [f"{c[two]['ops'] / c[one]['ops']:.2f}", f"{c[one]['proxy']:.3f} → {c[two]['proxy']:.3f}"]
                else:
                    cols += ["-", "-"]
            print(f"| {op} | {conns} | " + " | ".join(cols) + " |")
    lookups = ["pwgate", "pwgate-lookup", "pwgate-nocache"]
    if any(t in lookups[1:] for (_, _, t) in order):
        print()
        print("Password path: latency added over direct (µs), by account lookups:")
        print()
        print("| op | conns | target | p50 µs | p99 µs | p50 − direct | p99 − direct | proxy cpu-s/10k |")
        print("|---|---:|---|---:|---:|---:|---:|---:|")
        for op, conns in workloads:
            c = cells_of(op, conns)
            d = c.get("direct")
            for t in lookups:
                if t not in c:
                    continue
                g = c[t]
                add50 = f"{g['p50'] - d['p50']:+.0f}" if d else "-"
                add99 = f"{g['p99'] - d['p99']:+.0f}" if d else "-"
                print(f"| {op} | {conns} | {t} | {g['p50']:.0f} | {g['p99']:.0f} | {add50} | {add99} | {g['proxy']:.3f} |")


if __name__ == "__main__":
    main(sys.argv[1])
