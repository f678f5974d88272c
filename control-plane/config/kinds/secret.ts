/**
 * Secret (v1, namespaced), the Kubernetes shape Gateway API users already write: a TLS
 * certificate and its private key (`type: kubernetes.io/tls`, `data` base64 or `stringData`
 * PEM, keys `tls.crt` and `tls.key`), named by Gateway listeners' `tls.certificateRefs`.
 *
 * The certificate chain and the key are checked when applied: both parse, the key belongs to the
 * first certificate. The key is stored (like a Kubernetes Secret in etcd) and sent only to the
 * gateways whose listeners name the Secret (SDS); the admin API, `weft get` and config dumps
 * show `<redacted>` in its place.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import type { SecretSpec } from '../types.js';
import type { Reader } from '../schema.js';
import type { KindDefinition } from './kind.js';

export const SECRET_TYPE_TLS = 'kubernetes.io/tls';
/** What the admin API, `weft get` and config dumps show instead of a private key. */
export const REDACTED = '<redacted>';

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates of a PEM chain, leaf first (throws on a block that does not parse). */
export function pemCertificates(pem: string): X509Certificate[] {
  return (pem.match(PEM_CERT) ?? []).map((b) => new X509Certificate(b));
}

/** DNS names a certificate serves: its subjectAltName DNS entries (the CN only when it has none). */
export function certificateNames(c: X509Certificate): string[] {
  const dns = (c.subjectAltName ?? '')
    .split(', ')
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4));
  if (dns.length) return dns;
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(c.subject)?.[1];
  return cn ? [cn] : [];
}

/** What `weft get` shows of a TLS Secret: names and expiry of the leaf. */
export interface CertificateInfo {
  names: string[];
  notAfter: string;
  /** Days until notAfter (negative: expired), at the time it was described. */
  daysLeft: number;
}

export function describeCertificate(certPem: string, now = Date.now()): CertificateInfo | undefined {
  const leaf = pemCertificates(certPem)[0];
  if (!leaf) return undefined;
  const notAfter = new Date(leaf.validTo);
  return { names: certificateNames(leaf), notAfter: notAfter.toISOString(), daysLeft: Math.floor((notAfter.getTime() - now) / 86_400_000) };
}

/**
 * `data` values are base64; `stringData` values are text and win over `data` (as in Kubernetes).
 * undefined: absent; null: present but unusable (already reported).
 */
function field(r: Reader, data: Record<string, unknown> | undefined, stringData: Record<string, unknown> | undefined, key: string): string | null | undefined {
  if (stringData && stringData[key] !== undefined) return r.str(stringData[key], `stringData.${key}`, { nonEmpty: true }) ?? null;
  if (!data || data[key] === undefined) return undefined;
  const b64 = r.str(data[key], `data.${key}`, { nonEmpty: true });
  if (b64 === undefined) return null;
  if (!/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(b64)) {
    r.err(`data.${key}`, 'is not base64 (use stringData for PEM text)');
    return null;
  }
  return Buffer.from(b64, 'base64').toString('utf8');
}

export function readSecret(r: Reader, v: unknown): SecretSpec | undefined {
  // Secret's fields are top-level in Kubernetes; validate.ts hands them over as `v`.
  const o = r.obj(v, '', ['type', 'data', 'stringData'], ['type']);
  if (!o) return undefined;
  const type = r.str(o.type, 'type', { oneOf: [SECRET_TYPE_TLS] });
  const data = r.obj(o.data, 'data', ['tls.crt', 'tls.key', 'ca.crt']);
  const stringData = r.obj(o.stringData, 'stringData', ['tls.crt', 'tls.key', 'ca.crt']);
  // ca.crt (cert-manager writes it) would be the CA for client certificates, which gateways do not
  // ask for: refused rather than accepted and ignored.
  for (const [m, where] of [[data, 'data'], [stringData, 'stringData']] as const) {
    if (m && m['ca.crt'] !== undefined) r.err(`${where}.ca.crt`, 'is not supported: gateways do not verify client certificates (remove ca.crt; a chain of intermediates goes in tls.crt after the leaf)');
  }
  if (type === undefined) return undefined;
  const crt = field(r, data, stringData, 'tls.crt');
  const key = field(r, data, stringData, 'tls.key');
  const where = (k: string) => (stringData && stringData[k] !== undefined ? `stringData.${k}` : data && data[k] !== undefined ? `data.${k}` : 'data');
  if (crt === undefined) r.err(where('tls.crt'), "a kubernetes.io/tls Secret needs 'tls.crt' (PEM certificate chain, leaf first) in data or stringData");
  if (key === undefined) r.err(where('tls.key'), "a kubernetes.io/tls Secret needs 'tls.key' (PEM private key) in data or stringData");
  if (typeof crt !== 'string' || typeof key !== 'string') return undefined;
  let certs: X509Certificate[];
  try {
    certs = pemCertificates(crt);
  } catch (e) {
    r.err(where('tls.crt'), `a certificate does not parse: ${(e as Error).message}`);
    return undefined;
  }
  if (!certs.length) {
    r.err(where('tls.crt'), 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)');
    return undefined;
  }
  let pk: KeyObject;
  try {
    pk = createPrivateKey(key);
  } catch (e) {
    // Never echo the key text: only what is wrong with it.
    r.err(where('tls.key'), `is not a PEM private key (${(e as Error).message.replace(/\n.*/s, '')}); encrypted keys are not supported`);
    return undefined;
  }
  if (!certs[0]!.checkPrivateKey(pk)) {
    r.err(where('tls.key'), `is not the key of the certificate in tls.crt (${certs[0]!.subject.replace(/\n/g, ', ')})`);
    return undefined;
  }
  return { type: SECRET_TYPE_TLS, certificatePem: crt, privateKeyPem: key };
}

/**
 * Annotations can carry the whole Secret again (kubectl's last-applied-configuration holds
 * `data.tls.key`): any annotation mentioning a key is shown as <redacted>.
 */
function redactAnnotations(a: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(a)) out[k] = /tls\.key|PRIVATE KEY/.test(v) ? REDACTED : v;
  return out;
}

export const secretKind: KindDefinition<'Secret'> = {
  kind: 'Secret',
  apiVersions: ['v1'],
  plural: 'secrets',
  shortNames: [],
  topLevel: ['type', 'data', 'stringData'],
  read: (r, spec) => readSecret(r, spec),
  addToModel: (b, res) => void b.secrets.set(`Secret/${res.metadata.namespace}/${res.metadata.name}`, res),
  summary(res) {
    const c = res.spec.certificatePem === REDACTED ? undefined : describeCertificate(res.spec.certificatePem);
    if (!c) return res.spec.type;
    return `${res.spec.type} ${c.names.join(', ')} expires ${c.notAfter.slice(0, 10)} (${c.daysLeft < 0 ? 'EXPIRED' : `${c.daysLeft} days`})`;
  },
  redact(res) {
    const source = res.source ? structuredClone(res.source) : undefined;
    if (source) {
      for (const k of ['data', 'stringData'] as const) {
        const m = source[k] as Record<string, unknown> | undefined;
        if (m && m['tls.key'] !== undefined) m['tls.key'] = REDACTED;
      }
      const md = source.metadata as { annotations?: Record<string, string> } | undefined;
      if (md?.annotations) md.annotations = redactAnnotations(md.annotations);
    }
    const metadata = { ...res.metadata, annotations: redactAnnotations(res.metadata.annotations) };
    return { ...res, metadata, spec: { ...res.spec, privateKeyPem: REDACTED }, ...(source ? { source } : {}) };
  },
};
