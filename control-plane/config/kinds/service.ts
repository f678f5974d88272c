/** Service: the ports a service answers on and, optionally, endpoints named in config. */
import { isIP } from 'node:net';
import type { ServicePort, ServiceSpec, StaticEndpoint } from '../types.js';
import type { Reader } from '../schema.js';

export function readService(r: Reader, v: unknown): ServiceSpec | undefined {
  const o = r.obj(v, 'spec', ['ports', 'endpoints'], ['ports']);
  if (!o) return undefined;
  const ports = r.arr(o.ports, 'spec.ports', (x, p): ServicePort | undefined => {
    const po = r.obj(x, p, ['name', 'port', 'protocol'], ['port']);
    if (!po) return undefined;
    const port = r.int(po.port, `${p}.port`, 1, 65535, { required: true });
    const name = po.name === undefined ? undefined : r.dnsLabel(po.name, `${p}.name`);
    const protocol = (r.str(po.protocol, `${p}.protocol`, { oneOf: ['http', 'http2', 'grpc'] }) ?? 'http') as ServicePort['protocol'];
    return port === undefined ? undefined : { name: name ?? `port-${port}`, port, protocol };
  }, { nonEmpty: true });
  const seenN = new Set<string>();
  const seenP = new Set<number>();
  ports.forEach((p, i) => {
    if (seenN.has(p.name)) r.err(`spec.ports[${i}].name`, `duplicate port name '${p.name}'`);
    if (seenP.has(p.port)) r.err(`spec.ports[${i}].port`, `duplicate port ${p.port}`);
    seenN.add(p.name);
    seenP.add(p.port);
  });
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
  return { ports, endpoints };
}
