// Every resource the translator emits, for a mesh that uses every feature the config kinds offer,
// (a) decodes in the sidecar with zero errors, and (b) renders as JSON with the registry
// `weft proxy-config` uses. Caught: `weft proxy-config` failed for any listener that carries the
// grpc_web filter, because the JSON type registry did not know GrpcWeb (issue 16, item 11).
import { fromBinary } from '@bufbuild/protobuf';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { beforeAll, describe, expect, it } from 'vitest';
import { formatFieldError, type FieldError } from '../../../common/errors.js';
import { EXTENSION_LIST, isKnownExtension, schemaByTypeUrl } from '../../../common/extensions.js';
import { resourceToJson } from '../../../control-plane/xds/type-registry.js';
import { DECODERS } from '../../../sidecar/xds/types/index.js';
import { HttpConnectionManagerSchema } from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { ListenerSchema } from '../../../proto/gen/envoy/config/listener/v3/listener_pb.js';
import type { RouteConfiguration } from '../../../proto/gen/envoy/config/route/v3/route_pb.js';
import { everyFeatureResources, type Emitted } from '../../harness/every-feature.js';

describe('every feature: translator output decodes in the sidecar and renders as JSON', () => {
  const emitted: Emitted[] = [];

  beforeAll(async () => {
    emitted.push(...(await everyFeatureResources()));
  }, 60_000);

  it('emits what the mesh uses: CORS, grpc_web, the transcoder, RBAC, fault injection, compression, caching, limits, the API-gateway filters, tracing, TLS, reverse translation', () => {
    const filters = new Set<string>();
    for (const e of emitted) {
      if (e.kind !== 'listener') continue;
      const l = fromBinary(ListenerSchema, e.resource.body);
      // Every chain's HCM (it ends the chain; a gateway port has one chain per HTTPS listener).
      const anys = l.apiListener?.apiListener ? [l.apiListener.apiListener] : l.filterChains.map((c) => c.filters.at(-1)?.configType.value as never);
      for (const any of anys) {
        const hcm = any && anyUnpack(any, HttpConnectionManagerSchema);
        for (const f of hcm?.httpFilters ?? []) filters.add(f.name);
      }
    }
    expect([...filters].sort()).toEqual(
      [
        'envoy.filters.http.buffer', 'envoy.filters.http.cache', 'envoy.filters.http.compressor.brotli/default/edge-all-compression', 'envoy.filters.http.compressor.gzip/default/edge-all-compression', 'envoy.filters.http.compressor.gzip/default/edge-json', 'envoy.filters.http.compressor.gzip/default/edge-shop-json', 'envoy.filters.http.cors', 'envoy.filters.http.fault', 'envoy.filters.http.grpc_json_transcoder', 'envoy.filters.http.grpc_web', 'envoy.filters.http.rbac', 'envoy.filters.http.router', 'weft.filters.http.grpc_json_reverse', 'weft.filters.http.request_limits',
        // The API-gateway filters (issue 20).
        'envoy.filters.http.jwt_authn', 'weft.filters.http.jwt_claims',
        'weft.filters.http.key_auth',
        'weft.filters.http.api_lifecycle',
        'weft.filters.http.transformation', 'weft.filters.http.validation',
        'weft.filters.http.aggregation',
        'weft.filters.http.ratelimit',
      ].sort(),
    );
    expect(new Set(emitted.map((e) => e.kind))).toEqual(new Set(['listener', 'route', 'cluster', 'endpoint', 'secret']));
  });

  it('covers the gateway shapes: listeners per Gateway listener, a * domain, wildcard and precise hosts, an empty route configuration', () => {
    const of = (node: string, kind: string) => emitted.filter((e) => e.node === node && e.kind === kind).map((e) => e.resource.name).sort();
    expect(of('gw', 'listener')).toEqual(['gateway.shop', 'gateway.web']);
    expect(of('gw-all', 'listener')).toEqual(['gateway.any', 'gateway.api', 'gateway.wild']);
    expect(of('gw-none', 'listener')).toEqual([]);
    const domains = (node: string, name: string) => (emitted.find((e) => e.node === node && e.kind === 'route' && e.resource.name === name)!.resource.message as RouteConfiguration).virtualHosts.map((v) => v.domains);
    expect(domains('gw', 'gateway.web')).toEqual([['*']]);
    expect(domains('gw', 'gateway.shop')).toEqual([['www.shop.example', 'www.shop.example:8001']]);
    expect(domains('gw-all', 'gateway.wild')).toEqual([['books.example.org', 'books.example.org:8102'], ['*.example.org', '*.example.org:8102']]);
    expect(domains('gw-all', 'gateway.api')).toEqual([]);
  });

  it('declares every typed config and filter it emits in common/extensions.ts', () => {
    const unknown = new Set<string>();
    const seen = new Set<string>();
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) return v.forEach(walk);
      if (!v || typeof v !== 'object') return;
      const o = v as Record<string, unknown>;
      if (typeof o['@type'] === 'string') {
        seen.add(o['@type']);
        if (!schemaByTypeUrl(o['@type'])) unknown.add(o['@type']);
      }
      if (typeof o.name === 'string' && typeof (o.typedConfig as Record<string, unknown> | undefined)?.['@type'] === 'string') {
        const url = (o.typedConfig as Record<string, string>)['@type']!;
        const known = ['network_filter', 'listener_filter', 'http_filter', 'transport_socket', 'tracer', 'compression_library'] as const;
        if (!known.some((slot) => isKnownExtension(slot, o.name as string, url))) unknown.add(`${o.name} (${url})`);
      }
      Object.values(o).forEach(walk);
    };
    for (const e of emitted) walk(resourceToJson(e.resource.schema, e.resource.message));
    expect([...unknown]).toEqual([]);
    // ...and the list holds nothing the translator never emits.
    expect(EXTENSION_LIST.map((x) => x.typeUrl).filter((u) => !seen.has(u))).toEqual([]);
  });

  it('(a) every emitted resource decodes in the sidecar with zero errors', () => {
    const errors: Array<FieldError & { node: string }> = [];
    for (const e of emitted) {
      const d = DECODERS[e.kind](e.resource.body);
      for (const err of d.errors) errors.push({ ...err, node: e.node });
      if (!d.errors.length) expect(d.name, `${e.kind} ${e.resource.name}`).toBe(e.resource.name);
    }
    // If the sidecar's decoders reject something the translator emits, list it (resource, field path).
    const lines = [...new Set(errors.map((x) => `${x.node}: ${formatFieldError(x)}`))];
    expect(lines, `sidecar decoder errors:\n${lines.join('\n')}`).toEqual([]);
  });

  it('(b) every emitted resource renders as JSON with the proxy-config registry', () => {
    const failures: string[] = [];
    for (const e of emitted) {
      try {
        JSON.stringify(resourceToJson(e.resource.schema, e.resource.message));
      } catch (err) {
        failures.push(`${e.node} ${e.kind} ${e.resource.name}: ${(err as Error).message}`);
      }
    }
    expect([...new Set(failures)], failures.join('\n')).toEqual([]);
  });
});
