"""Runs the test vectors through keysmith.py:
python3 verifiers/python/vectors.py license/testdata/vectors.json"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import keysmith  # noqa: E402

v = json.load(open(sys.argv[1], encoding="utf-8"))
ring = keysmith.keyring(v["public_keys"])
passed = failed = 0


def check(name, ok, detail):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {name}: {detail}")


def attempt(f):
    try:
        return f(), None
    except keysmith.Invalid as e:
        return None, e


for k in v["keys"]:
    c, err = attempt(lambda: keysmith.verify_key(ring, k["text"]))
    check(k["name"], (c == k["claims"]) if k["valid"] else err is not None, err or c)
for l in v["computer_licenses"]:
    c, err = attempt(lambda: keysmith.verify_computer_license(ring, l["text"]))
    want = {key: l[key] for key in ("key", "computer_id", "seat", "issued", "check_by")} if l["valid"] else None
    check(l["name"], (c == want) if l["valid"] else err is not None, err or c)
for a in v["answers"]:
    body, err = attempt(lambda: keysmith.verify_answer(ring, a["signed"]))
    check(a["name"], (body == a["body"]) if a["valid"] else err is not None, err or body)

print(f"python: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
