/**
 * Server certificates for the gateway's TLS tests, made by the openssl command line (as an
 * operator would): self-signed, so a client trusts one by passing it as its CA. Each call makes
 * a new key. ECDSA P-256 by default; RSA on request (a listener may serve one of each).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCert {
  certPem: string;
  keyPem: string;
  /** Files holding them (for curl, openssl and `weft create secret tls`), removed by `cleanup`. */
  certFile: string;
  keyFile: string;
}

const dirs: string[] = [];

export function selfSignedCert(names: readonly string[], o: { days?: number; rsa?: boolean } = {}): TestCert {
  const dir = mkdtempSync(join(tmpdir(), 'weft-cert-'));
  dirs.push(dir);
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  const key = o.rsa ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];
  execFileSync('openssl', ['req', '-x509', ...key, '-nodes', '-sha256', '-days', String(o.days ?? 30), '-subj', `/CN=${names[0]}`, '-addext', `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}`, '-addext', 'basicConstraints=critical,CA:FALSE', '-keyout', keyFile, '-out', certFile], { stdio: 'pipe' });
  return { certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8'), certFile, keyFile };
}

/** A file holding `pem` (e.g. several certificates a client trusts), removed by `cleanup`. */
export function pemFile(pem: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'weft-pem-'));
  dirs.push(dir);
  const f = join(dir, 'ca.pem');
  writeFileSync(f, pem);
  return f;
}

/** A kubernetes.io/tls Secret holding `c` (stringData, PEM). */
export function tlsSecret(name: string, c: TestCert, namespace = 'default'): string {
  const indent = (s: string) => s.trimEnd().split('\n').map((l) => `    ${l}`).join('\n');
  return `apiVersion: v1
kind: Secret
metadata: { name: ${name}, namespace: ${namespace} }
type: kubernetes.io/tls
stringData:
  tls.crt: |
${indent(c.certPem)}
  tls.key: |
${indent(c.keyPem)}
`;
}

export function cleanupCerts(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}
