// Verifies CarePath evidence outside Python, as a downstream service or an auditor in another
// language would: reads Kafka records (JSON lines on stdin: {"key", "value", "headers"}, strings)
// and the services' public keys (`--keys DIR` of `<service>.<keyid>.pub` files, base64 raw
// Ed25519 keys), and prints one JSON line per record:
//   {"id", "digest", "prevhash", "verified": true|false, "problem"?}
// Only `digestalg: jcs-sha256` (envelope version 2) is reproducible here: the digest is the
// SHA-256 of the RFC 8785 canonical JSON of the record's value *as published* (never of an SDK's
// event object, which adds `partitionkey` and reformats `time`), without `signature`; the
// signature is Ed25519 over the 32 digest bytes, by the key `keyid` names.
// `node verify.mjs --vectors FILE` checks contracts/vectors/evidence-digests.json instead.
import { createHash, createPublicKey, verify } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import canonicalize from "canonicalize";

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

function publicKey(base64) {
  const raw = Buffer.from(base64.trim(), "base64");
  return { raw, key: createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") }, format: "jwk" }) };
}

function keysIn(dir) {
  const keys = new Map(); // keyid -> {service, key}
  for (const name of readdirSync(dir).filter((n) => n.endsWith(".pub"))) {
    const { raw, key } = publicKey(readFileSync(join(dir, name), "utf8"));
    keys.set(sha256(raw).slice(0, 16), { service: name.split(".")[0], key });
  }
  return keys;
}

function check(value, keys) {
  const { signature, ...unsigned } = JSON.parse(value);
  const found = { id: unsigned.id, prevhash: unsigned.prevhash ?? null, verified: false };
  if (unsigned.digestalg !== "jcs-sha256") return { ...found, problem: `digestalg ${unsigned.digestalg ?? "absent (version 1)"}` };
  const canonical = canonicalize(unsigned);
  found.digest = sha256(Buffer.from(canonical, "utf8"));
  const signer = keys.get(unsigned.keyid);
  if (!signer) return { ...found, problem: `unknown key id ${unsigned.keyid}` };
  if (`/carepath/${signer.service}` !== unsigned.source) return { ...found, problem: "signed by another service" };
  found.verified = verify(null, Buffer.from(found.digest, "hex"), signer.key, Buffer.from(signature ?? "", "base64"));
  return found.verified ? found : { ...found, problem: "signature does not verify" };
}

const args = process.argv.slice(2);
if (args[0] === "--vectors") {
  const vectors = JSON.parse(readFileSync(args[1], "utf8"));
  const { raw, key } = publicKey(vectors.public_key);
  const keys = new Map([[sha256(raw).slice(0, 16), { service: "session", key }]]);
  const events = vectors.events.map((event) => {
    const { signature, ...unsigned } = JSON.parse(event.value);
    const canonical = unsigned.digestalg === "jcs-sha256" ? canonicalize(unsigned) : null;
    return { name: event.name, canonical, ...check(event.value, keys) };
  });
  const edge = canonicalize(JSON.parse(vectors.jcs_edge_cases.input));
  console.log(JSON.stringify({
    keyid: sha256(raw).slice(0, 16),
    events,
    jcs_edge_cases: { canonical_hex: Buffer.from(edge, "utf8").toString("hex"), sha256: sha256(Buffer.from(edge, "utf8")) },
  }));
} else if (args[0] === "--keys") {
  const keys = keysIn(args[1]);
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim()) console.log(JSON.stringify(check(JSON.parse(line).value, keys)));
  }
} else {
  console.error("usage: node verify.mjs --keys DIR < records.jsonl | node verify.mjs --vectors FILE");
  process.exit(2);
}
