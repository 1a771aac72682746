"""What an application does with keysmith, in Python: verify the key offline
first, activate once (keeping the computer license), trust that license
until its check-by day, then re-check online (a signed answer carrying our
nonce), and stop when the server says the key is revoked.

    python3 example.py SERVER KEY PUBLIC_KEYS.json COMPUTER_ID STATE_FILE [--recheck]

PUBLIC_KEYS.json is GET /v1/keys as shipped with the application. It prints
"licensed: ..." and exits 0, or "not licensed: ..." and exits 1."""

import datetime
import json
import os
import secrets
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import keysmith  # noqa: E402

server, key, keys_file, computer_id, state_file = sys.argv[1:6]
recheck = "--recheck" in sys.argv[6:]
ring = keysmith.keyring(json.load(open(keys_file, encoding="utf-8"))["keys"])
today = datetime.date.today().isoformat()


def fail(why):
    print(f"not licensed: {why}")
    sys.exit(1)


def post(path, body):
    req = urllib.request.Request(server + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


try:
    claims = keysmith.verify_key(ring, key)
except keysmith.Invalid as e:
    fail(f"the key does not verify ({e})")
if claims["expires"] and claims["expires"] <= today:
    fail("the key has expired")

if os.path.exists(state_file):
    lic = keysmith.verify_computer_license(ring, json.load(open(state_file, encoding="utf-8"))["license"])
    if lic["computer_id"] != computer_id:
        fail("the license is for another computer")
    if lic["check_by"] > today and not recheck:
        print(f"licensed: seat {lic['seat']} of {lic['key']['seats']}, offline until {lic['check_by']}")
        sys.exit(0)
    nonce = secrets.token_hex(16)
    status, signed = post("/v1/validate", {"key": key, "computer_id": computer_id, "nonce": nonce})
    if status != 200:
        fail(f"the server answered {status}")
    answer = json.loads(keysmith.verify_answer(ring, signed))
    if answer["nonce"] != nonce or answer["computer_id"] != computer_id:
        fail("a replayed answer")
    if answer["status"] != "valid":
        fail(f"the key is {answer['status']}")
    print(f"licensed: seat {answer['seat']} of {answer['seats']}, checked online")
    sys.exit(0)

status, body = post("/v1/activate", {"key": key, "computer_id": computer_id})
if status != 200:
    fail(body.get("error", f"the server answered {status}"))
lic = keysmith.verify_computer_license(ring, body["license"])
json.dump({"license": body["license"]}, open(state_file, "w", encoding="utf-8"))
print(f"licensed: seat {lic['seat']} of {lic['key']['seats']}, activated, offline until {lic['check_by']}")
