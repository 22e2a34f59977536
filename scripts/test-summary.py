#!/usr/bin/env python3
"""Summarise meson's testlog.json: per suite counts, failed test names, and the final
'N passed, N failed' line CI reads.  Skipped tests are listed, never counted as passed."""
import collections
import json
import sys

path = sys.argv[1] if len(sys.argv) > 1 else "build/meson-logs/testlog.json"
suites = collections.OrderedDict()
failed, skipped = [], []
with open(path) as f:
    for line in f:
        line = line.strip()
        if not line:
            continue
        t = json.loads(line)
        # names look like "qemu-tcmu:unit / opts"
        name = t["name"]
        suite = name.split(" / ")[0].split(":")[-1] if " / " in name else "?"
        s = suites.setdefault(suite, collections.Counter())
        res = t["result"]
        if res in ("OK", "EXPECTEDFAIL"):
            s["passed"] += 1
        elif res == "SKIP":
            s["skipped"] += 1
            skipped.append(t["name"])
        else:
            s["failed"] += 1
            failed.append("%s (%s)" % (t["name"], res))

print()
print("== test summary ==")
for name, c in suites.items():
    print("  %-10s %4d passed, %4d failed, %4d skipped" % (name, c["passed"], c["failed"], c["skipped"]))
for n in failed:
    print("  FAILED: " + n)
for n in skipped:
    print("  SKIPPED: " + n)
p = sum(c["passed"] for c in suites.values())
fl = sum(c["failed"] for c in suites.values())
print("%d passed, %d failed" % (p, fl))
