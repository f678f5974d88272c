/** MeshConfig (singleton named `mesh`): trust domain, mTLS mode, tracing, certificate lifetime. */
import type { EscapedSlashesAction, MeshConfigSpec } from '../types.js';
import type { Reader } from '../schema.js';
import { API_VERSION_WEFT } from '../api-versions.js';
import type { KindDefinition } from './kind.js';

/** What a mesh without a MeshConfig runs with, and each field's default. */
export const DEFAULT_MESH_CONFIG: MeshConfigSpec = {
  trustDomain: 'cluster.local',
  mtls: { mode: 'PERMISSIVE', minProtocolVersion: 'TLSv1_3' },
  tracing: { samplingPercent: 1, propagation: 'w3c' },
  certificateTtlMs: 24 * 3600 * 1000,
  authorization: { defaultAction: 'ALLOW' },
  http: { normalizePath: true, mergeSlashes: true, escapedSlashes: 'Reject', upgrades: ['websocket'] },
};

export function readMeshConfig(r: Reader, v: unknown): MeshConfigSpec | undefined {
  const o = r.obj(v ?? {}, 'spec', ['trustDomain', 'mtls', 'tracing', 'certificateTtl', 'authorization', 'http']);
  if (!o) return undefined;
  const d = DEFAULT_MESH_CONFIG;
  const trustDomain = r.str(o.trustDomain, 'spec.trustDomain', { pattern: /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, patternHelp: 'a DNS-like trust domain (e.g. example.org)' }) ?? d.trustDomain;
  const m = r.obj(o.mtls, 'spec.mtls', ['mode', 'minProtocolVersion']) ?? {};
  const mode = (r.str(m.mode, 'spec.mtls.mode', { oneOf: ['STRICT', 'PERMISSIVE', 'DISABLE'] }) ?? d.mtls.mode) as MeshConfigSpec['mtls']['mode'];
  const minProtocolVersion = (r.str(m.minProtocolVersion, 'spec.mtls.minProtocolVersion', { oneOf: ['TLSv1_2', 'TLSv1_3'] }) ?? d.mtls.minProtocolVersion) as MeshConfigSpec['mtls']['minProtocolVersion'];
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
  const h = r.obj(o.http, 'spec.http', ['normalizePath', 'mergeSlashes', 'escapedSlashes', 'upgrades']) ?? {};
  const bool = (x: unknown, path: string, dflt: boolean): boolean => {
    if (x === undefined) return dflt;
    if (typeof x !== 'boolean') {
      r.err(path, `must be true or false, got ${JSON.stringify(x)}`);
      return dflt;
    }
    return x;
  };
  const escapedSlashes = (r.str(h.escapedSlashes, 'spec.http.escapedSlashes', { oneOf: ['KeepUnchanged', 'Reject', 'UnescapeAndRedirect', 'UnescapeAndForward'] }) ?? d.http.escapedSlashes) as EscapedSlashesAction;
  let upgrades = d.http.upgrades;
  if (h.upgrades !== undefined) {
    if (!Array.isArray(h.upgrades)) r.err('spec.http.upgrades', 'must be a list of Upgrade types (e.g. [websocket])');
    else {
      upgrades = [];
      h.upgrades.forEach((u: unknown, i: number) => {
        const t = r.str(u, `spec.http.upgrades[${i}]`, { pattern: /^[A-Za-z0-9!#$%&'*+.^_`|~-]+(\/[A-Za-z0-9!#$%&'*+.^_`|~-]+)?$/, patternHelp: 'an Upgrade protocol token (e.g. websocket)' });
        if (t === undefined) return;
        const lc = t.toLowerCase();
        if (lc === 'h2c' || lc === 'connect') r.err(`spec.http.upgrades[${i}]`, `'${t}' cannot be enabled: h2c is never forwarded and CONNECT is not supported`);
        else if (upgrades.includes(lc)) r.err(`spec.http.upgrades[${i}]`, `'${t}' is listed twice`);
        else upgrades.push(lc);
      });
    }
  }
  return {
    trustDomain,
    mtls: { mode, minProtocolVersion },
    tracing: { samplingPercent: sampling, propagation, ...(endpoint ? { endpoint } : {}) },
    certificateTtlMs: ttl,
    authorization: { defaultAction },
    http: {
      normalizePath: bool(h.normalizePath, 'spec.http.normalizePath', d.http.normalizePath),
      mergeSlashes: bool(h.mergeSlashes, 'spec.http.mergeSlashes', d.http.mergeSlashes),
      escapedSlashes,
      upgrades,
    },
  };
}

export const meshConfigKind: KindDefinition<'MeshConfig'> = {
  kind: 'MeshConfig',
  apiVersions: [API_VERSION_WEFT],
  plural: 'meshconfigs',
  shortNames: [],
  singleton: 'mesh',
  read: (r, spec) => readMeshConfig(r, spec),
  addToModel: (b, res) => void (b.mesh = res.spec),
  summary: (res) => `trust domain ${res.spec.trustDomain}; mtls ${res.spec.mtls.mode}; default ${res.spec.authorization.defaultAction}`,
};
