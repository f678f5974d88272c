/**
 * A PKCS#10 certificate signing request for the sidecar's own key, with node:crypto only (no
 * X.509 library in the sidecar: its RSS matters). The structure is fixed and small, so a minimal
 * DER encoder is enough: subject O=weft, an extensionRequest carrying subjectAltName with one URI
 * (the SPIFFE ID), signed ECDSA with SHA-256.
 */
import { createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const tlv = (tag: number, body: Buffer): Buffer => Buffer.concat([Buffer.from([tag]), len(body.length), body]);
const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));
function oid(dotted: string): Buffer {
  const p = dotted.split('.').map(Number);
  const out = [40 * p[0]! + p[1]!];
  for (const n of p.slice(2)) {
    const b: number[] = [n & 0x7f];
    for (let v = n >> 7; v > 0; v >>= 7) b.unshift(0x80 | (v & 0x7f));
    out.push(...b);
  }
  return tlv(0x06, Buffer.from(out));
}

const OID_O = '2.5.4.10';
const OID_EXT_REQ = '1.2.840.113549.1.9.14';
const OID_SAN = '2.5.29.17';
const OID_ECDSA_SHA256 = '1.2.840.10045.4.3.2';

/** A new P-256 key for one workload certificate. */
export function generateKey(): KeyObject {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
}

/** PEM CSR for `spiffeId`, signed by `key` (EC P-256). */
export function createCsr(key: KeyObject, spiffeId: string): string {
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const subject = seq(set(seq(oid(OID_O), tlv(0x0c, Buffer.from('weft')))));
  const san = seq(tlv(0x86, Buffer.from(spiffeId, 'ascii'))); // GeneralNames: [6] uniformResourceIdentifier
  const extensions = seq(seq(oid(OID_SAN), tlv(0x04, san)));
  const attributes = tlv(0xa0, seq(oid(OID_EXT_REQ), set(extensions)));
  const info = seq(tlv(0x02, Buffer.from([0])), subject, spki, attributes);
  const signature = sign('sha256', info, key); // DER ECDSA-Sig-Value
  const der = seq(info, seq(oid(OID_ECDSA_SHA256)), tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE REQUEST-----\n${b64}\n-----END CERTIFICATE REQUEST-----\n`;
}
