#!/usr/bin/env python3
"""Write a sample audit trail, hash-chained as pwgate writes it, for the
README's screenshot of `pwgate audit report` (scripts/report-screenshot.sh).

The records are made up (seeded, so the same every run): two weeks of
password decisions at every door, a scope in audit mode, the directory's
answers, a protected account, sync outcomes. They have pwgate's fields and
chain; `pwgate audit verify` accepts the file, which the screenshot script
checks. No record holds a password, as none of pwgate's does.

    scripts/sample-audit-trail.py OUT.jsonl
"""
import hashlib
import json
import random
import sys

GENESIS = "0" * 64
RULES = ["banned_word", "common_password", "length", "complexity", "account_name",
         "similar_to_old", "keyboard_walk", "date", "breached"]
WEIGHTS = [30, 22, 14, 9, 7, 6, 5, 4, 3]


def compact(record):
    # serde_json's compact form of a map with sorted keys.
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: sample-audit-trail.py OUT.jsonl")
    rng = random.Random(20261207)
    records = []

    def add(day, secs, fields):
        hh, rem = divmod(secs, 3600)
        mm, ss = divmod(rem, 60)
        fields["ts"] = f"2026-11-{day:02d}T{hh:02d}:{mm:02d}:{ss:02d}.{rng.randrange(10**6):06d}Z"
        records.append(fields)

    for day in range(16, 30):
        weekday = (day - 16) % 7 < 5
        n = rng.randint(40, 70) if weekday else rng.randint(5, 15)
        # A spraying attempt through the reset portal on the 24th.
        if day == 24:
            n += 60
        for _ in range(n):
            secs = rng.randrange(7 * 3600, 19 * 3600)
            door = rng.choices(["ldap", "samba_hook", "api", "windows_filter"], [50, 30, 12, 8])[0]
            scope = rng.choices(["default", "staff", "admins"], [70, 22, 8])[0]
            weak = rng.random() < (0.55 if day == 24 else 0.22)
            kind = rng.choice(["change", "change", "reset"])
            if weak:
                k = 2 if rng.random() < 0.3 else 1
                rules = ",".join(sorted(set(rng.choices(RULES, WEIGHTS, k=k))))
                verdict = "would_refuse" if scope == "staff" else "refused"
            else:
                rules, verdict = "", "accepted"
            if scope == "admins" and kind == "reset" and rng.random() < 0.15:
                rules, verdict = "protected_account", "refused"
            add(day, secs, {"event": "password_decision", "door": door, "kind": kind,
                            "scope": scope, "verdict": verdict, "rules": rules,
                            "attribute": "unicodePwd", "msgid": rng.randrange(2, 400),
                            "client": f"10.0.{rng.randrange(1, 9)}.{rng.randrange(2, 250)}:{rng.randrange(40000, 60000)}",
                            "actor": "sample", "target_dn": "sample", "confirms": "none",
                            "message": f"password {kind} {verdict}"})
            if verdict != "refused" and door == "ldap":
                code = rng.choices(["0", "19", "53", "unknown"], [92, 6, 1, 1])[0]
                add(day, secs + 1, {"event": "password_result", "door": door, "kind": kind,
                                    "result_code": code, "attribute": "unicodePwd",
                                    "client": "sample", "actor": "sample", "target_dn": "sample",
                                    "msgid": 0, "message": f"directory answered password {kind} with result code {code}"})
                if code == "0":
                    outcome = rng.choices(["synced", "retried", "failed"], [95, 4, 1])[0]
                    add(day, secs + 2, {"event": "password_sync", "sync_target": "linux-ldap",
                                        "outcome": outcome, "result_code": "0", "target_dn": "sample",
                                        "detail": "", "message": f"password sync to linux-ldap: {outcome}"})
        for _ in range(rng.randint(0, 3)):
            add(day, rng.randrange(0, 86400), {"event": "request_refused", "verdict": "refused",
                                               "rules": rng.choice(["malformed", "undecodable"]),
                                               "operation": "modify", "client": "sample", "actor": "sample",
                                               "target_dn": "unknown", "attribute": "none", "msgid": 0,
                                               "reason": "sample", "message": "modify request refused: sample"})
    records.sort(key=lambda r: r["ts"])
    prev = GENESIS
    with open(sys.argv[1], "w", encoding="utf-8") as out:
        for seq, record in enumerate(records, 1):
            record["seq"] = seq
            record["prev"] = prev
            record["hash"] = hashlib.sha256(compact(record).encode()).hexdigest()
            prev = record["hash"]
            out.write(compact(record) + "\n")
    print(f"{len(records)} records in {sys.argv[1]}")


if __name__ == "__main__":
    main()
