// keysmith license verification for Node.js (18+), on Node's own crypto:
// license keys and computer licenses verified offline, signed answers of
// /v1/validate checked. The formats are in docs/formats.md.
import { createPublicKey, verify } from "node:crypto";

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const EPOCH = Date.UTC(2020, 0, 1);
const MODELS = ["permanent", "trial", "subscription"];
const BINDINGS = ["", "_floating", "_cloud"];

// A keyring maps key ids to Ed25519 public keys (base64 of 32 bytes, as
// GET /v1/keys and the test vectors give them).
export function keyring(publicKeys) {
  const ring = new Map();
  for (const { id, public_key } of publicKeys) {
    const raw = Buffer.from(public_key, "base64");
    // SPKI DER prefix of an Ed25519 public key.
    const der = Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), raw]);
    ring.set(id, createPublicKey({ key: der, format: "der", type: "spki" }));
  }
  return ring;
}

// decodeText reads Crockford base32 as people type it; null if malformed.
function decodeText(text) {
  let s = "";
  for (const ch of text.toUpperCase()) {
    if (ch === "-" || /\s/.test(ch)) continue;
    s += ch === "I" || ch === "L" ? "1" : ch === "O" ? "0" : ch;
  }
  if (s.length > 1024) return null;
  const out = [];
  let acc = 0, bits = 0;
  for (const ch of s) {
    const v = ALPHABET.indexOf(ch);
    if (v < 0) return null;
    acc = (acc << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 0xff);
    }
    acc &= (1 << bits) - 1;
  }
  // Leftover bits must be zero and fewer than 5 (the one spelling encode makes).
  if (bits >= 5 || acc !== 0) return null;
  return Buffer.from(out);
}

class Reader {
  constructor(buf) { this.buf = buf; this.pos = 0; }
  byte() {
    if (this.pos >= this.buf.length) throw new Error("truncated");
    return this.buf[this.pos++];
  }
  uvarint(max) {
    let v = 0n, shift = 0n;
    for (let i = 0; i < 10; i++) {
      const b = BigInt(this.byte());
      v |= (b & 0x7fn) << shift;
      if (b < 0x80n) {
        if (v > BigInt(max)) throw new Error("number out of range");
        return Number(v);
      }
      shift += 7n;
    }
    throw new Error("varint too long");
  }
  bytes(n) {
    if (this.pos + n > this.buf.length) throw new Error("truncated");
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
}

const day = (n) => new Date(EPOCH + n * 86400000).toISOString().slice(0, 10);

function readClaims(r) {
  const version = r.byte();
  if (version !== 1 && version !== 2) throw new Error("unknown format version");
  const c = {
    key_id: r.uvarint(0xffff),
    product: r.uvarint(0xffffffff),
    major: r.uvarint(0xffffffff),
    minor: r.uvarint(0xffffffff),
    features: [r.byte(), r.byte(), r.byte(), r.byte()],
    seats: r.uvarint(0xffffffff),
  };
  const model = r.byte();
  const binding = version === 2 ? r.byte() : 0;
  const issued = r.uvarint(65535), expires = r.uvarint(65535);
  const maintenance = version === 2 ? r.uvarint(65535) : 0;
  c.serial = r.bytes(8).toString("hex");
  if (c.seats === 0 || model > 2 || binding > 2) throw new Error("bad claims");
  if (expires !== 0 && expires <= issued) throw new Error("expiry before issue");
  if (maintenance !== 0 && maintenance < issued) throw new Error("maintenance before issue");
  c.model = MODELS[model] + BINDINGS[binding];
  c.issued = day(issued);
  c.expires = expires ? day(expires) : "";
  c.maintenance = maintenance ? day(maintenance) : "";
  return c;
}

function split(text) {
  const raw = decodeText(text);
  if (!raw || raw.length < 64) throw new Error("malformed");
  return [raw.subarray(0, raw.length - 64), raw.subarray(raw.length - 64)];
}

function checkSignature(ring, keyId, message, sig) {
  const pub = ring.get(keyId);
  if (!pub) throw new Error("unknown signing key");
  if (!verify(null, message, pub, sig)) throw new Error("bad signature");
}

// verifyKey returns a key's claims, or throws.
export function verifyKey(ring, text) {
  const [payload, sig] = split(text);
  const r = new Reader(payload);
  const c = readClaims(r);
  if (r.pos !== payload.length) throw new Error("trailing bytes");
  checkSignature(ring, c.key_id, payload, sig);
  return c;
}

// verifyComputerLicense returns { key, computer_id, seat, issued, check_by }, or throws.
export function verifyComputerLicense(ring, text) {
  const [payload, sig] = split(text);
  const r = new Reader(payload);
  const key = readClaims(r);
  if (r.pos === payload.length || r.byte() !== 0x43) throw new Error("not a computer license");
  const seat = r.uvarint(key.seats);
  const issued = r.uvarint(65535), checkBy = r.uvarint(65535);
  const n = r.uvarint(256);
  if (payload.length - r.pos !== n || seat === 0 || n === 0 || checkBy <= issued) throw new Error("malformed");
  const computer_id = r.bytes(n).toString("utf8");
  checkSignature(ring, key.key_id, payload, sig);
  return { key, computer_id, seat, issued: day(issued), check_by: day(checkBy) };
}

// verifyAnswer returns a signed answer's bytes (JSON text), or throws; the
// caller then checks the nonce it sent.
export function verifyAnswer(ring, signed) {
  const body = Buffer.from(signed.answer, "base64");
  const sig = Buffer.from(signed.signature, "base64");
  if (sig.length !== 64) throw new Error("malformed signature");
  checkSignature(ring, signed.key_id, Buffer.concat([Buffer.from("keysmith answer\0"), body]), sig);
  return body.toString("utf8");
}
