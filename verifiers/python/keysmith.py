"""keysmith license verification for Python, on the `cryptography` package
(Debian: python3-cryptography): license keys and computer licenses verified
offline, signed answers of /v1/validate checked. Formats: docs/formats.md."""

import base64
import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
EPOCH = datetime.date(2020, 1, 1)
MODELS = ["permanent", "trial", "subscription"]
BINDINGS = ["", "_floating", "_cloud"]


class Invalid(Exception):
    """The text is not a valid key, computer license or answer."""


def keyring(public_keys):
    """Maps key ids to Ed25519 public keys (base64 of 32 bytes, as GET /v1/keys gives them)."""
    return {k["id"]: Ed25519PublicKey.from_public_bytes(base64.b64decode(k["public_key"])) for k in public_keys}


def _decode_text(text):
    s = ""
    for ch in text.upper():
        if ch == "-" or ch.isspace():
            continue
        s += "1" if ch in "IL" else "0" if ch == "O" else ch
    if len(s) > 1024:
        raise Invalid("too long")
    out, acc, bits = bytearray(), 0, 0
    for ch in s:
        v = ALPHABET.find(ch)
        if v < 0:
            raise Invalid("not base32")
        acc = (acc << 5) | v
        bits += 5
        if bits >= 8:
            bits -= 8
            out.append((acc >> bits) & 0xFF)
        acc &= (1 << bits) - 1
    if bits >= 5 or acc:
        raise Invalid("bad length or padding bits")
    return bytes(out)


class _Reader:
    def __init__(self, buf):
        self.buf, self.pos = buf, 0

    def byte(self):
        if self.pos >= len(self.buf):
            raise Invalid("truncated")
        self.pos += 1
        return self.buf[self.pos - 1]

    def uvarint(self, limit):
        v, shift = 0, 0
        for _ in range(10):
            b = self.byte()
            v |= (b & 0x7F) << shift
            if b < 0x80:
                if v > limit:
                    raise Invalid("number out of range")
                return v
            shift += 7
        raise Invalid("varint too long")

    def take(self, n):
        if self.pos + n > len(self.buf):
            raise Invalid("truncated")
        self.pos += n
        return self.buf[self.pos - n : self.pos]


def _day(n):
    return (EPOCH + datetime.timedelta(days=n)).isoformat()


def _claims(r):
    version = r.byte()
    if version not in (1, 2):
        raise Invalid("unknown format version")
    c = {
        "key_id": r.uvarint(0xFFFF),
        "product": r.uvarint(0xFFFFFFFF),
        "major": r.uvarint(0xFFFFFFFF),
        "minor": r.uvarint(0xFFFFFFFF),
        "features": [r.byte(), r.byte(), r.byte(), r.byte()],
        "seats": r.uvarint(0xFFFFFFFF),
    }
    model = r.byte()
    binding = r.byte() if version == 2 else 0
    issued, expires = r.uvarint(65535), r.uvarint(65535)
    maintenance = r.uvarint(65535) if version == 2 else 0
    c["serial"] = r.take(8).hex()
    if c["seats"] == 0 or model > 2 or binding > 2:
        raise Invalid("bad claims")
    if expires and expires <= issued:
        raise Invalid("expiry before issue")
    if maintenance and maintenance < issued:
        raise Invalid("maintenance before issue")
    c["model"] = MODELS[model] + BINDINGS[binding]
    c["issued"] = _day(issued)
    c["expires"] = _day(expires) if expires else ""
    c["maintenance"] = _day(maintenance) if maintenance else ""
    return c


def _split(text):
    raw = _decode_text(text)
    if len(raw) < 64:
        raise Invalid("too short")
    return raw[:-64], raw[-64:]


def _check(ring, key_id, message, sig):
    pub = ring.get(key_id)
    if pub is None:
        raise Invalid("unknown signing key")
    try:
        pub.verify(sig, message)
    except InvalidSignature:
        raise Invalid("bad signature") from None


def verify_key(ring, text):
    """Returns a key's claims (a dict), or raises Invalid."""
    payload, sig = _split(text)
    r = _Reader(payload)
    c = _claims(r)
    if r.pos != len(payload):
        raise Invalid("trailing bytes")
    _check(ring, c["key_id"], payload, sig)
    return c


def verify_computer_license(ring, text):
    """Returns {key, computer_id, seat, issued, check_by}, or raises Invalid."""
    payload, sig = _split(text)
    r = _Reader(payload)
    key = _claims(r)
    if r.pos == len(payload) or r.byte() != 0x43:
        raise Invalid("not a computer license")
    seat = r.uvarint(key["seats"])
    issued, check_by = r.uvarint(65535), r.uvarint(65535)
    n = r.uvarint(256)
    if len(payload) - r.pos != n or seat == 0 or n == 0 or check_by <= issued:
        raise Invalid("malformed")
    computer_id = r.take(n).decode("utf-8")
    _check(ring, key["key_id"], payload, sig)
    return {"key": key, "computer_id": computer_id, "seat": seat, "issued": _day(issued), "check_by": _day(check_by)}


def verify_answer(ring, signed):
    """Returns a signed answer's text (JSON), or raises Invalid; then check the nonce you sent."""
    body = base64.b64decode(signed["answer"])
    sig = base64.b64decode(signed["signature"])
    if len(sig) != 64:
        raise Invalid("malformed signature")
    _check(ring, signed["key_id"], b"keysmith answer\x00" + body, sig)
    return body.decode("utf-8")
