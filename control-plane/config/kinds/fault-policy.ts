/**
 * FaultPolicy (weft.dev/v1alpha1, namespaced): delays and aborts injected into the requests of
 * the HTTPRoute / GRPCRoute rules that name it in an ExtensionRef filter, for resilience testing.
 * Translated to Envoy's fault filter: an HTTPFault per route on the callers' outbound side.
 */
import type { FaultAbort, FaultDelay, FaultPercentage, FaultPolicySpec } from '../types.js';
import type { Reader } from '../schema.js';
import { API_VERSION_WEFT } from '../api-versions.js';
import type { KindDefinition } from './kind.js';

/** Envoy's max_active_faults is a uint32. */
const MAX_UINT32 = 4_294_967_295;

/** 0..100 with at most 4 decimals (Envoy's finest FractionalPercent is per million); default 100. */
function readPercentage(r: Reader, v: unknown, p: string): FaultPercentage {
  if (v === undefined || v === null) return 100;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 100) {
    r.err(p, `must be a number from 0 to 100, got ${JSON.stringify(v)}`);
    return 100;
  }
  if (Math.abs(v * 10_000 - Math.round(v * 10_000)) > 1e-6) {
    r.err(p, `${v} has more than 4 decimals (the finest step is 0.0001 %)`);
    return 100;
  }
  return v;
}

/** `fromHeader` is `true` or absent: false would be accepted and mean nothing. */
function readFromHeader(r: Reader, v: unknown, p: string): boolean {
  const b = r.bool(v, p);
  if (b === false) r.err(p, 'must be true, or left out');
  return b === true;
}

/** Exactly one of `keys` set in `o`; an error at `p` naming them otherwise. */
function one(r: Reader, o: Record<string, unknown>, p: string, keys: readonly string[]): boolean {
  const set = keys.filter((k) => o[k] !== undefined && o[k] !== null);
  if (set.length === 1) return true;
  r.err(p, set.length ? `set only one of ${set.join(', ')}` : `needs one of ${keys.join(', ')}`);
  return false;
}

function readDelay(r: Reader, v: unknown, p: string): FaultDelay | undefined {
  const o = r.obj(v, p, ['fixedDelay', 'fromHeader', 'percentage']);
  if (!o) return undefined;
  const percentage = readPercentage(r, o.percentage, `${p}.percentage`);
  if (!one(r, o, p, ['fixedDelay', 'fromHeader'])) return undefined;
  if (o.fromHeader !== undefined && o.fromHeader !== null) return readFromHeader(r, o.fromHeader, `${p}.fromHeader`) ? { fromHeader: true, percentage } : undefined;
  const ms = r.duration(o.fixedDelay, `${p}.fixedDelay`, { min: 1 });
  return ms === undefined ? undefined : { fixedDelayMs: ms, percentage };
}

function readAbort(r: Reader, v: unknown, p: string): FaultAbort | undefined {
  const o = r.obj(v, p, ['httpStatus', 'grpcStatus', 'fromHeader', 'percentage']);
  if (!o) return undefined;
  const percentage = readPercentage(r, o.percentage, `${p}.percentage`);
  if (!one(r, o, p, ['httpStatus', 'grpcStatus', 'fromHeader'])) return undefined;
  if (o.fromHeader !== undefined && o.fromHeader !== null) return readFromHeader(r, o.fromHeader, `${p}.fromHeader`) ? { fromHeader: true, percentage } : undefined;
  if (o.httpStatus !== undefined && o.httpStatus !== null) {
    const httpStatus = r.int(o.httpStatus, `${p}.httpStatus`, 200, 599);
    return httpStatus === undefined ? undefined : { httpStatus, percentage };
  }
  const grpcStatus = r.int(o.grpcStatus, `${p}.grpcStatus`, 0, 16);
  return grpcStatus === undefined ? undefined : { grpcStatus, percentage };
}

export function readFaultPolicy(r: Reader, v: unknown): FaultPolicySpec | undefined {
  const o = r.obj(v, 'spec', ['delay', 'abort', 'maxActiveFaults']);
  if (!o) return undefined;
  if ((o.delay === undefined || o.delay === null) && (o.abort === undefined || o.abort === null)) r.err('spec', 'needs delay, abort or both');
  const spec: FaultPolicySpec = {};
  const delay = readDelay(r, o.delay, 'spec.delay');
  const abort = readAbort(r, o.abort, 'spec.abort');
  const maxActiveFaults = r.int(o.maxActiveFaults, 'spec.maxActiveFaults', 0, MAX_UINT32);
  if (delay) spec.delay = delay;
  if (abort) spec.abort = abort;
  if (maxActiveFaults !== undefined) spec.maxActiveFaults = maxActiveFaults;
  return spec;
}

const describe = (x: { percentage: number }, what: string) => `${what} ${x.percentage}%`;

export const faultPolicyKind: KindDefinition<'FaultPolicy'> = {
  kind: 'FaultPolicy',
  apiVersions: [API_VERSION_WEFT],
  plural: 'faultpolicies',
  shortNames: [],
  read: (r, spec) => readFaultPolicy(r, spec),
  addToModel: (b, res) => void b.faultPolicies.set(`FaultPolicy/${res.metadata.namespace}/${res.metadata.name}`, res),
  summary(res) {
    const { delay, abort } = res.spec;
    const parts: string[] = [];
    if (delay) parts.push(describe(delay, 'fixedDelayMs' in delay ? `delay ${delay.fixedDelayMs}ms` : 'delay from header'));
    if (abort) parts.push(describe(abort, 'httpStatus' in abort ? `abort ${abort.httpStatus}` : 'grpcStatus' in abort ? `abort grpc ${abort.grpcStatus}` : 'abort from header'));
    return parts.join('; ');
  },
};
