// Opening a sealed field of a CarePath event in JavaScript (Node 18+, Web Crypto): the format of
// contracts/README.md, "Patient data". Usage: node open_sealed.mjs <key base64> <event id> <field> <sealed>
// Prints the field's JSON value.
import { webcrypto as crypto } from "node:crypto";

export async function openField(keyBase64, eventId, field, sealed) {
  if (!sealed.startsWith("enc:v1:")) throw new Error(`${field} is not sealed`);
  const raw = Buffer.from(sealed.slice("enc:v1:".length), "base64url");
  const key = await crypto.subtle.importKey(
    "raw", Buffer.from(keyBase64, "base64"), { name: "AES-GCM" }, false, ["decrypt"],
  );
  const clear = await crypto.subtle.decrypt(
    {
      name: "AES-GCM",
      iv: raw.subarray(0, 12),
      additionalData: new TextEncoder().encode(`carepath/${eventId}/${field}`),
    },
    key,
    raw.subarray(12), // ciphertext, then the 16-byte tag
  );
  return JSON.parse(new TextDecoder().decode(clear));
}

if (process.argv.length === 6) {
  const [keyBase64, eventId, field, sealed] = process.argv.slice(2);
  console.log(JSON.stringify(await openField(keyBase64, eventId, field, sealed)));
}
