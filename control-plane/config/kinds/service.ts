/**
 * Service: the ports a service answers on, optionally endpoints named in config, and the TCP
 * services its instances call (`upstreams`, each on a local port of their sidecar).
 */
import { isIP } from 'node:net';
import type { AppProtocol, MtlsMode, ServicePort, ServiceResource, ServiceSpec, ServiceUpstream, StaticEndpoint } from '../types.js';
import type { Reader } from '../schema.js';
import { API_VERSION_WEFT } from '../api-versions.js';
import { resourceKey } from '../resource-key.js';
import type { KindDefinition, ReferenceContext } from './kind.js';

const PROTOCOLS: readonly AppProtocol[] = ['http', 'http2', 'grpc', 'tcp'];

/** The ports a sidecar binds itself (admin, outbound, inbound): an upstream's localPort cannot take them. */
export const SIDECAR_RESERVED_PORTS: readonly number[] = [15000, 15001, 15006];

/** Is every port of `svc` a tcp port (a TCP service: tcp_proxy, no HTTP)? Validation keeps ports all tcp or all HTTP-family. */
export function isTcpService(svc: ServiceResource): boolean {
  return svc.spec.ports.length > 0 && svc.spec.ports.every((p) => p.protocol === 'tcp');
}

/**
 * What a sidecar that was not told (`--app-protocol auto`, the default) speaks to its app: h2c
 * (`grpc`, or `http2`) when every port of the Service says so, HTTP/1.1 otherwise.
 */
export function appProtocolOf(svc: ServiceResource | undefined): 'http' | 'http2' | 'grpc' {
  const ports = svc?.spec.ports ?? [];
  if (ports.length === 0) return 'http';
  if (ports.every((p) => p.protocol === 'grpc')) return 'grpc';
  return ports.every((p) => p.protocol === 'grpc' || p.protocol === 'http2') ? 'http2' : 'http';
}

/** The port of `svc` an upstream (or a TCPRoute backend) without a port means: its only tcp port. */
export function soleTcpPort(svc: ServiceResource): number | undefined {
  const tcp = svc.spec.ports.filter((p) => p.protocol === 'tcp');
  return tcp.length === 1 ? tcp[0]!.port : undefined;
}

function readUpstreams(r: Reader, v: unknown, ns: string): ServiceUpstream[] {
  const seen = new Map<number, number>();
  let i = -1;
  return r.arr(v, 'spec.upstreams', (x, p): ServiceUpstream | undefined => {
    i++;
    const o = r.obj(x, p, ['service', 'namespace', 'port', 'localPort', 'bindAddress'], ['service', 'localPort']);
    if (!o) return undefined;
    const service = r.dnsLabel(o.service, `${p}.service`, false);
    const namespace = o.namespace === undefined ? ns : r.dnsLabel(o.namespace, `${p}.namespace`);
    const port = r.int(o.port, `${p}.port`, 1, 65535);
    let localPort = r.int(o.localPort, `${p}.localPort`, 1, 65535);
    if (localPort !== undefined && SIDECAR_RESERVED_PORTS.includes(localPort)) {
      r.err(`${p}.localPort`, `${localPort} is a port the sidecar binds itself (admin 15000, outbound 15001, inbound 15006); pick another`);
      localPort = undefined;
    }
    if (localPort !== undefined) {
      const other = seen.get(localPort);
      if (other !== undefined) r.err(`${p}.localPort`, `${localPort} is also the localPort of spec.upstreams[${other}]; each upstream needs its own local port`);
      else seen.set(localPort, i);
    }
    const bindAddress = r.str(o.bindAddress, `${p}.bindAddress`, { nonEmpty: true }) ?? '127.0.0.1';
    const badAddress = isIP(bindAddress) === 0;
    if (badAddress) r.err(`${p}.bindAddress`, `'${bindAddress}' is not an IP address (v4 or v6 literal); the sidecar binds it as given`);
    if (!service || !namespace || localPort === undefined || badAddress) return undefined;
    return { service, namespace, ...(port !== undefined ? { port } : {}), localPort, bindAddress };
  });
}

export function readService(r: Reader, v: unknown, ns = 'default'): ServiceSpec | undefined {
  const o = r.obj(v, 'spec', ['ports', 'endpoints', 'mtls', 'upstreams'], ['ports']);
  if (!o) return undefined;
  // Duplicates are checked as items are read, so paths keep the index the user wrote.
  const seenN = new Set<string>();
  const seenP = new Set<number>();
  const ports = r.arr(o.ports, 'spec.ports', (x, p): ServicePort | undefined => {
    const po = r.obj(x, p, ['name', 'port', 'protocol'], ['port']);
    if (!po) return undefined;
    const port = r.int(po.port, `${p}.port`, 1, 65535, { required: true });
    const name = po.name === undefined ? undefined : r.dnsLabel(po.name, `${p}.name`);
    const protocol = (r.str(po.protocol, `${p}.protocol`, { oneOf: PROTOCOLS }) ?? 'http') as ServicePort['protocol'];
    if (port === undefined) return undefined;
    const finalName = name ?? `port-${port}`;
    if (seenN.has(finalName)) r.err(`${p}.name`, `duplicate port name '${finalName}'`);
    if (seenP.has(port)) r.err(`${p}.port`, `duplicate port ${port}`);
    seenN.add(finalName);
    seenP.add(port);
    return { name: finalName, port, protocol };
  }, { nonEmpty: true });
  // A sidecar forwards its inbound listener to one app port with one protocol (tcp_proxy or the
  // HTTP connection manager): a service cannot be both.
  const first = ports[0];
  const odd = first ? ports.findIndex((x) => (x.protocol === 'tcp') !== (first.protocol === 'tcp')) : -1;
  if (first && odd >= 0) {
    r.err(`spec.ports[${odd}].protocol`, `'${ports[odd]!.protocol}' mixes with '${first.protocol}' (spec.ports[0]): a Service's ports are all tcp or all HTTP-family (http, http2, grpc), because its sidecar forwards inbound connections to one app port with one protocol; make two Services`);
  }
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
  const upstreams = o.upstreams === undefined ? undefined : readUpstreams(r, o.upstreams, ns);
  return { ports, endpoints, ...(mode ? { mtls: { mode } } : {}), ...(upstreams?.length ? { upstreams } : {}) };
}

/** Each upstream names an existing Service and one of its tcp ports (a port, or its only tcp port). */
function upstreamReferences(res: ServiceResource, ctx: ReferenceContext): void {
  res.spec.upstreams?.forEach((u, i) => {
    const p = `spec.upstreams[${i}]`;
    const id = `${u.namespace}/${u.service}`;
    const s = ctx.model.services.get(`Service/${id}`);
    if (!s) return ctx.err(`${p}.service`, `Service ${id} does not exist`);
    const tcp = s.spec.ports.filter((x) => x.protocol === 'tcp').map((x) => x.port);
    if (!tcp.length) return ctx.err(`${p}.service`, `Service ${id} has no tcp port (ports: ${s.spec.ports.map((x) => `${x.port}/${x.protocol}`).join(', ')}); an upstream carries raw TCP, HTTP services are reached through the outbound listener`);
    if (u.port === undefined) {
      if (tcp.length > 1) ctx.err(`${p}.port`, `is required: Service ${id} has several tcp ports (${tcp.join(', ')})`);
    } else if (!tcp.includes(u.port)) {
      ctx.err(`${p}.port`, `Service ${id} has no tcp port ${u.port} (tcp ports: ${tcp.join(', ')})`);
    }
  });
}

export const serviceKind: KindDefinition<'Service'> = {
  kind: 'Service',
  apiVersions: [API_VERSION_WEFT],
  plural: 'services',
  shortNames: ['svc'],
  read: (r, spec, ns) => readService(r, spec, ns),
  references: upstreamReferences,
  addToModel: (b, res) => void b.services.set(resourceKey(res), res),
  summary: (res) => `ports ${res.spec.ports.map((p) => `${p.port}/${p.protocol}`).join(',')}; static endpoints ${res.spec.endpoints.length}${res.spec.upstreams?.length ? `; upstreams ${res.spec.upstreams.map((u) => `${u.localPort}->${u.service}`).join(',')}` : ''}`,
};
