// What an application does with keysmith, in Node.js: verify the key
// offline first, activate once (keeping the computer license), trust that
// license until its check-by day, then re-check online (a signed answer
// carrying our nonce), and stop when the server says the key is revoked.
//
//   node example.mjs SERVER KEY PUBLIC_KEYS.json COMPUTER_ID STATE_FILE [--recheck]
//
// PUBLIC_KEYS.json is GET /v1/keys as shipped with the application. It
// prints "licensed: ..." and exits 0, or "not licensed: ..." and exits 1.
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { keyring, verifyAnswer, verifyComputerLicense, verifyKey } from "./keysmith.mjs";

const [server, key, keysFile, computerId, stateFile, flag] = process.argv.slice(2);
const ring = keyring(JSON.parse(readFileSync(keysFile, "utf8")).keys);
const fail = (why) => { console.log(`not licensed: ${why}`); process.exit(1); };
const today = new Date().toISOString().slice(0, 10);

let claims;
try { claims = verifyKey(ring, key); } catch (e) { fail(`the key does not verify (${e.message})`); }
if (claims.expires && claims.expires <= today) fail("the key has expired");

const post = async (path, body) => {
  const r = await fetch(server + path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  return [r.status, await r.json()];
};

let state = existsSync(stateFile) ? JSON.parse(readFileSync(stateFile, "utf8")) : null;
if (state) {
  const lic = verifyComputerLicense(ring, state.license);
  if (lic.computer_id !== computerId) fail("the license is for another computer");
  if (lic.check_by > today && flag !== "--recheck") {
    console.log(`licensed: seat ${lic.seat} of ${lic.key.seats}, offline until ${lic.check_by}`);
    process.exit(0);
  }
  const nonce = randomBytes(16).toString("hex");
  const [status, signed] = await post("/v1/validate", { key, computer_id: computerId, nonce });
  if (status !== 200) fail(`the server answered ${status}`);
  const answer = JSON.parse(verifyAnswer(ring, signed));
  if (answer.nonce !== nonce || answer.computer_id !== computerId) fail("a replayed answer");
  if (answer.status !== "valid") fail(`the key is ${answer.status}`);
  console.log(`licensed: seat ${answer.seat} of ${answer.seats}, checked online`);
  process.exit(0);
}
const [status, body] = await post("/v1/activate", { key, computer_id: computerId });
if (status !== 200) fail(body.error || `the server answered ${status}`);
const lic = verifyComputerLicense(ring, body.license);
writeFileSync(stateFile, JSON.stringify({ license: body.license }));
console.log(`licensed: seat ${lic.seat} of ${lic.key.seats}, activated, offline until ${lic.check_by}`);
