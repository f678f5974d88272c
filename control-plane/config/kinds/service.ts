/** Service: the ports a service answers on and, optionally, endpoints named in config. */
import { isIP } from 'node:net';
import type { MtlsMode, ServicePort, ServiceSpec, StaticEndpoint } from '../types.js';
import type { Reader } from '../schema.js';
import { API_VERSION_WEFT } from '../api-versions.js';
import { resourceKey } from '../resource-key.js';
import type { KindDefinition } from './kind.js';

export function readService(r: Reader, v: unknown): ServiceSpec | undefined {
  const o = r.obj(v, 'spec', ['ports', 'endpoints', 'mtls'], ['ports']);
  if (!o) return undefined;
  // Duplicates are checked as items are read, so paths keep the index the user wrote.
  const seenN = new Set<string>();
  const seenP = new Set<number>();
  const ports = r.arr(o.ports, 'spec.ports', (x, p): ServicePort | undefined => {
    const po = r.obj(x, p, ['name', 'port', 'protocol'], ['port']);
    if (!po) return undefined;
    const port = r.int(po.port, `${p}.port`, 1, 65535, { required: true });
    const name = po.name === undefined ? undefined : r.dnsLabel(po.name, `${p}.name`);
    const protocol = (r.str(po.protocol, `${p}.protocol`, { oneOf: ['http', 'http2', 'grpc'] }) ?? 'http') as ServicePort['protocol'];
    if (port === undefined) return undefined;
    const finalName = name ?? `port-${port}`;
    if (seenN.has(finalName)) r.err(`${p}.name`, `duplicate port name '${finalName}'`);
    if (seenP.has(port)) r.err(`${p}.port`, `duplicate port ${port}`);
    seenN.add(finalName);
    seenP.add(port);
    return { name: finalName, port, protocol };
  }, { nonEmpty: true });
  const endpoints = r.arr(o.endpoints, 'spec.endpoints', (x, p): StaticEndpoint | undefined => {
    const eo = r.obj(x, p, ['address', 'port', 'labels', 'zone', 'weight'], ['address']);
    if (!eo) return undefined;
    const address = r.str(eo.address, `${p}.address`, { required: true });
    if (address !== undefined && isIP(address) === 0) r.err(`${p}.address`, `'${address}' is not an IP address (v4 or v6 literal)`);
    const port = r.int(eo.port, `${p}.port`, 1, 65535);
    const zone = r.str(eo.zone, `${p}.zone`);
    const ep: StaticEndpoint = { address: address ?? '', labels: r.labels(eo.labels, `${p}.labels`), weight: r.int(eo.weight, `${p}.weight`, 1, 128) ?? 1 };
    if (port !== undefined) ep.port = port;
    if (zone !== undefined) ep.zone = zone;
    return ep;
  });
  // Per-service override of MeshConfig's mTLS mode for this service's inbound side.
  const m = r.obj(o.mtls, 'spec.mtls', ['mode']);
  const mode = m ? (r.str(m.mode, 'spec.mtls.mode', { oneOf: ['STRICT', 'PERMISSIVE', 'DISABLE'] }) as MtlsMode | undefined) : undefined;
  return { ports, endpoints, ...(mode ? { mtls: { mode } } : {}) };
}

export const serviceKind: KindDefinition<'Service'> = {
  kind: 'Service',
  apiVersions: [API_VERSION_WEFT],
  plural: 'services',
  shortNames: ['svc'],
  read: (r, spec) => readService(r, spec),
  addToModel: (b, res) => void b.services.set(resourceKey(res), res),
  summary: (res) => `ports ${res.spec.ports.map((p) => `${p.port}/${p.protocol}`).join(',')}; static endpoints ${res.spec.endpoints.length}`,
};
