// Runs the test vectors (license/testdata/vectors.json) through keysmith.mjs:
// node verifiers/node/vectors.mjs license/testdata/vectors.json
import { readFileSync } from "node:fs";
import { keyring, verifyKey, verifyComputerLicense, verifyAnswer } from "./keysmith.mjs";

const v = JSON.parse(readFileSync(process.argv[2], "utf8"));
const ring = keyring(v.public_keys);
let passed = 0, failed = 0;
const check = (name, ok, detail) => {
  if (ok) passed++;
  else { failed++; console.log(`FAIL ${name}: ${detail}`); }
};
const attempt = (f) => { try { return [f(), null]; } catch (e) { return [null, e]; } };

for (const k of v.keys) {
  const [c, err] = attempt(() => verifyKey(ring, k.text));
  if (k.valid) check(k.name, !err && JSON.stringify(c, Object.keys(k.claims)) === JSON.stringify(k.claims), err || JSON.stringify(c));
  else check(k.name, !!err, "verified");
}
for (const l of v.computer_licenses) {
  const [c, err] = attempt(() => verifyComputerLicense(ring, l.text));
  if (l.valid) {
    const ok = !err && JSON.stringify(c.key, Object.keys(l.key)) === JSON.stringify(l.key) &&
      c.computer_id === l.computer_id && c.seat === l.seat && c.issued === l.issued && c.check_by === l.check_by;
    check(l.name, ok, err || JSON.stringify(c));
  } else check(l.name, !!err, "verified");
}
for (const a of v.answers) {
  const [body, err] = attempt(() => verifyAnswer(ring, a.signed));
  if (a.valid) check(a.name, !err && body === a.body, err || body);
  else check(a.name, !!err, "verified");
}
console.log(`node: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
