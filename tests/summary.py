#!/usr/bin/env python3
"""Print one line "N passed, N failed" over every test case of a meson run.

Criterion suites run with --tap, so each test case is one TAP line; other
tests (scripts) count as one case each. A suite that crashed or timed out
without reporting all its cases counts as one more failure.
"""
import json
import re
import sys

passed = failed = skipped = 0
try:
    lines = open(sys.argv[1]).read().splitlines()
except OSError as e:
    print(f"summary: {e}", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(1)
for line in lines:
    t = json.loads(line)
    out = t.get("stdout", "") or ""
    ok = len(re.findall(r"^ok\b", out, re.M))
    nok = len(re.findall(r"^not ok\b", out, re.M))
    sk = len(re.findall(r"^ok\b.*# SKIP", out, re.M | re.I))
    if ok + nok:
        passed += ok - sk
        skipped += sk
        failed += nok
        if t.get("result") not in ("OK", "SKIP", "EXPECTEDFAIL") and nok == 0:
            failed += 1  # crashed or timed out after its last case
    elif t.get("result") == "OK":
        passed += 1
    elif t.get("result") == "SKIP":
        skipped += 1
    else:
        failed += 1
line = f"{passed} passed, {failed} failed"
if skipped:
    line += f", {skipped} skipped"
print(line)
sys.exit(1 if failed else 0)
