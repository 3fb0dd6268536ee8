#!/usr/bin/env python3
"""Measure how much of a leaked-password list the policy refuses.

Usage:
    scripts/efficacy.py [--pwgate PATH] [--misses DIR] LIST...

For each list (one password a line), two subsets are measured:
  - "AD": what passes Active Directory complexity (7 characters or more and
    3 of the 4 classes lower case, upper case, digit, other);
  - "len7": every entry of 7 characters or more.
Each subset goes through `pwgate check` three times: with the built-in policy
(no configuration); with `min_length = 8`, so that the word and pattern rules
rather than the 12-character minimum decide for 8 to 11 characters; and with
`min_length = 1` and `complexity_classes = 0` ("rules only": only the word,
pattern, name and similarity rules can refuse).

The lists are measurement data: keep them out of the repository. With
--misses DIR, the accepted entries of each list are written to DIR/<list>.misses
(accepted by the rules only, for tuning lists; never look at the misses of a
held-out list).
"""

import argparse
import os
import subprocess
import sys
import tempfile


def classes(p):
    return sum(
        [
            any(c.islower() for c in p),
            any(c.isupper() for c in p),
            any(c.isdigit() for c in p),
            any(not c.isalnum() for c in p),
        ]
    )


def load(path):
    seen = set()
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            p = line.rstrip("\r\n")
            if p and p not in seen:
                seen.add(p)
                out.append(p)
    return out


def check(pwgate, passwords, config):
    """The accepted passwords, in input order."""
    if not passwords:
        return []
    cmd = [pwgate, "check"] + (["--config", config] if config else [])
    run = subprocess.run(
        cmd,
        input="\n".join(passwords) + "\n",
        capture_output=True,
        text=True,
    )
    if run.returncode not in (0, 1):
        sys.exit(f"pwgate check failed: {run.stderr}")
    accepted = []
    for line in run.stdout.splitlines():
        if line.startswith("line ") and line.endswith(": accepted"):
            n = int(line[5:].split(":")[0])
            accepted.append(passwords[n - 1])
    return accepted


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pwgate", default="target/debug/pwgate")
    ap.add_argument("--misses")
    ap.add_argument("lists", nargs="+")
    args = ap.parse_args()
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as cfg:
        cfg.write("[policy]\nmin_length = 8\n")
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as only:
        only.write("[policy]\nmin_length = 1\ncomplexity_classes = 0\n")
    try:
        print(
            "| list | subset | count | refused (default) | refused (min_length 8) "
            "| refused (rules only) |"
        )
        print("|---|---|---:|---:|---:|---:|")
        for path in args.lists:
            name = os.path.basename(path)
            entries = [p for p in load(path) if len(p) >= 7]
            # Empty lines are skipped by `pwgate check`; a line cannot hold a newline.
            subsets = [
                ("AD", [p for p in entries if classes(p) >= 3]),
                ("len7", entries),
            ]
            for subset, pws in subsets:
                default = check(args.pwgate, pws, None)
                rules = check(args.pwgate, pws, cfg.name)
                alone = check(args.pwgate, pws, only.name)
                n = len(pws)
                pct = lambda acc: 100.0 * (n - len(acc)) / n if n else 0.0
                print(
                    f"| {name} | {subset} | {n} | {pct(default):.1f}% | {pct(rules):.1f}% "
                    f"| {pct(alone):.1f}% |"
                )
                if args.misses and subset == "AD":
                    os.makedirs(args.misses, exist_ok=True)
                    with open(
                        os.path.join(args.misses, name + ".misses"), "w"
                    ) as out:
                        out.writelines(p + "\n" for p in alone)
    finally:
        os.unlink(cfg.name)
        os.unlink(only.name)


if __name__ == "__main__":
    main()
