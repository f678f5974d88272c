/** MeshConfig (singleton named `mesh`): trust domain, mTLS mode, tracing, certificate lifetime. */
import { DEFAULT_MESH_CONFIG, type MeshConfigSpec } from '../types.js';
import type { Reader } from '../schema.js';

export function readMeshConfig(r: Reader, v: unknown): MeshConfigSpec | undefined {
  const o = r.obj(v ?? {}, 'spec', ['trustDomain', 'mtls', 'tracing', 'certificateTtl', 'authorization']);
  if (!o) return undefined;
  const d = DEFAULT_MESH_CONFIG;
  const trustDomain = r.str(o.trustDomain, 'spec.trustDomain', { pattern: /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, patternHelp: 'a DNS-like trust domain (e.g. example.org)' }) ?? d.trustDomain;
  const m = r.obj(o.mtls, 'spec.mtls', ['mode']) ?? {};
  const mode = (r.str(m.mode, 'spec.mtls.mode', { oneOf: ['STRICT', 'PERMISSIVE', 'DISABLE'] }) ?? d.mtls.mode) as MeshConfigSpec['mtls']['mode'];
  const t = r.obj(o.tracing, 'spec.tracing', ['samplingPercent', 'endpoint', 'propagation']) ?? {};
  let sampling = d.tracing.samplingPercent;
  if (t.samplingPercent !== undefined) {
    if (typeof t.samplingPercent !== 'number' || !(t.samplingPercent >= 0 && t.samplingPercent <= 100)) r.err('spec.tracing.samplingPercent', `must be a number from 0 to 100, got ${JSON.stringify(t.samplingPercent)}`);
    else sampling = t.samplingPercent;
  }
  const endpoint = r.str(t.endpoint, 'spec.tracing.endpoint', { pattern: /^https?:\/\/[^\s]+$/, patternHelp: 'an http(s) URL' });
  const propagation = (r.str(t.propagation, 'spec.tracing.propagation', { oneOf: ['w3c', 'b3'] }) ?? d.tracing.propagation) as 'w3c' | 'b3';
  const ttl = r.duration(o.certificateTtl, 'spec.certificateTtl', { min: 10_000 }) ?? d.certificateTtlMs;
  const az = r.obj(o.authorization, 'spec.authorization', ['defaultAction']) ?? {};
  const defaultAction = (r.str(az.defaultAction, 'spec.authorization.defaultAction', { oneOf: ['ALLOW', 'DENY'] }) ?? d.authorization.defaultAction) as 'ALLOW' | 'DENY';
  return {
    trustDomain,
    mtls: { mode },
    tracing: { samplingPercent: sampling, propagation, ...(endpoint ? { endpoint } : {}) },
    certificateTtlMs: ttl,
    authorization: { defaultAction },
  };
}
