#!/usr/bin/env python3
"""How much of each source of the built-in common-password list the default
policy refuses, with the list as shipped and with that source left out.

For each source of scripts/gen-common-passwords.py (same options), the
"AD" subset (7 characters or more, 3 of the 4 classes lower case, upper
case, digit, other: what Active Directory complexity lets through) goes
through `pwgate check` with the built-in policy, and three figures are
printed:

  - no list: the default policy with `common_passwords = false` (the word,
    pattern and length rules alone);
  - shipped: the default policy as built (the list includes this source);
  - left out: as if the list had been built from the other sources only,
    the honest estimate for a leaked list pwgate has never seen. A password
    counts as refused when the rules refuse it or its folded form is in the
    other sources' part of the list (what the compiled-in filter holds, less
    its 1 in 65,536 false positives).

Usage:
    scripts/efficacy-sources.py [--pwgate target/release/pwgate] [--cache DIR] \\
        [--ignis FILE] [--ncsc FILE]

Nothing is written; no password is printed.
"""

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "gen_common", os.path.join(HERE, "gen-common-passwords.py")
)
gen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pwgate", default="target/release/pwgate")
    gen.add_arguments(ap)
    args = ap.parse_args()
    os.makedirs(args.cache, exist_ok=True)
    parts = gen.residual(args, args.pwgate)
    print("| source | AD entries | refused, no list | refused, shipped | refused, left out |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        no_list = os.path.join(tmp, "no-list.toml")
        with open(no_list, "w") as f:
            f.write("[policy]\ncommon_passwords = false\n")
        default = os.path.join(tmp, "default.toml")
        with open(default, "w") as f:
            f.write("[policy]\n")
        for name, entries in gen.sources(args):
            ad = sorted(
                {
                    p.replace("\r", "")
                    for p in entries
                    if len(p) >= 7 and gen.efficacy.classes(p) >= 3
                }
            )
            if not ad:
                continue
            rules_accept = gen.efficacy.check(args.pwgate, ad, no_list)
            shipped_accept = gen.efficacy.check(args.pwgate, ad, default)
            others = set().union(*(f for n, f in parts.items() if n != name))
            left_out_accept = [p for p in rules_accept if gen.fold(p) not in others]
            n = len(ad)
            pct = lambda acc: f"{100.0 * (n - len(acc)) / n:.2f}%"
            print(
                f"| {name} | {n} | {pct(rules_accept)} | {pct(shipped_accept)} "
                f"| {pct(left_out_accept)} |"
            )
            sys.stdout.flush()


if __name__ == "__main__":
    main()
