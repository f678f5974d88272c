// The compiled route table: domain precedence, path/header/query/method matching, actions.
import { create } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { RouteConfigurationSchema } from '../../../proto/gen/envoy/config/route/v3/route_pb.js';
import { RouteTable, compileRetry, RETRY, type CompiledRoute, type ForwardRoute } from '../../../sidecar/routing/route-table.js';
import type { HeaderSource } from '../../../sidecar/routing/matchers.js';
import { parseGrpcTimeout } from '../../../sidecar/http/exchange.js';

const fwd = (cluster: string) => ({ case: 'route' as const, value: { clusterSpecifier: { case: 'cluster' as const, value: cluster } } });
const hdrs = (h: Record<string, string>): HeaderSource => ({ header: (n) => h[n] });

const table = new RouteTable(
  create(RouteConfigurationSchema, {
    name: 'outbound',
    virtualHosts: [
      { name: 'exact', domains: ['orders', 'orders:8080'], routes: [
        { name: 'exact-path', match: { pathSpecifier: { case: 'path', value: '/health' } }, action: { case: 'directResponse', value: { status: 204 } } },
        { name: 'regex', match: { pathSpecifier: { case: 'safeRegex', value: { regex: '/items/[0-9]+' } } }, action: fwd('items') },
        { name: 'sep', match: { pathSpecifier: { case: 'pathSeparatedPrefix', value: '/api' } }, action: fwd('api') },
        { name: 'method', match: { pathSpecifier: { case: 'prefix', value: '/m' }, headers: [{ name: ':method', headerMatchSpecifier: { case: 'stringMatch', value: { matchPattern: { case: 'exact', value: 'POST' } } } }] }, action: fwd('post-only') },
        { name: 'header', match: { pathSpecifier: { case: 'prefix', value: '/' }, headers: [{ name: 'x-canary', headerMatchSpecifier: { case: 'presentMatch', value: true } }] }, action: fwd('canary') },
        { name: 'query', match: { pathSpecifier: { case: 'prefix', value: '/' }, queryParameters: [{ name: 'v', queryParameterMatchSpecifier: { case: 'stringMatch', value: { matchPattern: { case: 'exact', value: '2' } } } }] }, action: fwd('v2') },
        { name: 'redirect', match: { pathSpecifier: { case: 'prefix', value: '/old' } }, action: { case: 'redirect', value: { pathRewriteSpecifier: { case: 'prefixRewrite', value: '/new' }, responseCode: 0 } } },
        { name: 'default', match: { pathSpecifier: { case: 'prefix', value: '/' } }, action: { case: 'route', value: {
          clusterSpecifier: { case: 'weightedClusters', value: { clusters: [{ name: 'a', weight: 1 }, { name: 'b', weight: 3 }] } },
          retryPolicy: { retryOn: '5xx,reset,cancelled', numRetries: 2, retriableStatusCodes: [418] },
          prefixRewrite: '/v1/',
        } } },
      ] },
      { name: 'suffix', domains: ['*.example.com'], routes: [{ match: { pathSpecifier: { case: 'prefix', value: '/' } }, action: fwd('suffix') }] },
      { name: 'longer-suffix', domains: ['*.api.example.com'], routes: [{ match: { pathSpecifier: { case: 'prefix', value: '/' } }, action: fwd('longer') }] },
      { name: 'prefix', domains: ['payments.*'], routes: [{ match: { pathSpecifier: { case: 'prefix', value: '/' } }, action: fwd('prefix') }] },
      { name: 'any', domains: ['*'], routes: [{ match: { pathSpecifier: { case: 'prefix', value: '/' } }, action: fwd('any') }] },
    ],
  }),
);

function m(host: string, target: string, h: Record<string, string> = {}): CompiledRoute | undefined {
  const q = target.indexOf('?');
  return table.match(host, q < 0 ? target : target.slice(0, q), q < 0 ? '' : target.slice(q), hdrs({ ':method': 'GET', ...h }));
}
const cluster = (r: CompiledRoute | undefined) => (r?.kind === 'forward' ? (r.cluster ?? 'weighted') : r?.kind);

describe('RouteTable', () => {
  it('picks virtual hosts: exact, then longest *.suffix, then prefix*, then *, with or without the port', () => {
    expect(cluster(m('orders', '/x'))).toBe('weighted');
    expect(cluster(m('orders:9999', '/x'))).toBe('weighted'); // port that matches no domain is dropped
    expect(cluster(m('a.example.com', '/'))).toBe('suffix');
    expect(cluster(m('v1.api.example.com', '/'))).toBe('longer');
    expect(cluster(m('payments.prod', '/'))).toBe('prefix');
    expect(cluster(m('elsewhere', '/'))).toBe('any');
  });

  it('matches paths: exact, full-match regex, path-separated prefix', () => {
    expect(m('orders', '/health')?.kind).toBe('direct');
    expect(cluster(m('orders', '/items/42'))).toBe('items');
    expect(cluster(m('orders', '/items/42/x'))).toBe('weighted'); // regex must match the whole path
    expect(cluster(m('orders', '/api'))).toBe('api');
    expect(cluster(m('orders', '/api/v1'))).toBe('api');
    expect(cluster(m('orders', '/apis'))).toBe('weighted'); // not a path element boundary
  });

  it('matches method, header presence and query parameters', () => {
    expect(cluster(m('orders', '/m', { ':method': 'POST' }))).toBe('post-only');
    expect(cluster(m('orders', '/m'))).toBe('weighted');
    expect(cluster(m('orders', '/x', { 'x-canary': '1' }))).toBe('canary');
    expect(cluster(m('orders', '/x?v=2'))).toBe('v2');
    expect(cluster(m('orders', '/x?v=3'))).toBe('weighted');
  });

  it('compiles actions once: redirect, weighted split, retry policy, rewrite', () => {
    const red = m('orders', '/old/page');
    expect(red).toMatchObject({ kind: 'redirect', status: 301, prefixRewrite: '/new', matchedPrefix: '/old' });
    const r = m('orders', '/x') as ForwardRoute;
    expect([...r.weighted!.cumulative]).toEqual([1, 4]);
    expect(r.weighted!.names).toEqual(['a', 'b']);
    expect(r.retry).toMatchObject({ numRetries: 2, on: RETRY['5xx'] | RETRY.reset | RETRY.cancelled });
    expect(r.retry!.codes.has(418)).toBe(true);
    expect(r.prefixRewrite).toBe('/v1/');
    expect(r.timeoutMs).toBe(15_000); // Envoy's default when the route sets none
  });

  it('ignores unknown retry_on tokens rather than failing', () => {
    expect(compileRetry({ retryOn: 'nope,5xx' } as never)!.on).toBe(RETRY['5xx']);
  });

  it('parses grpc-timeout in every unit and refuses malformed values', () => {
    expect(parseGrpcTimeout('2H')).toBe(7_200_000);
    expect(parseGrpcTimeout('3M')).toBe(180_000);
    expect(parseGrpcTimeout('5S')).toBe(5000);
    expect(parseGrpcTimeout('250m')).toBe(250);
    expect(parseGrpcTimeout('1500u')).toBe(2);
    expect(parseGrpcTimeout('1n')).toBe(1);
    expect(parseGrpcTimeout('123456789S')).toBeUndefined(); // at most 8 digits
    expect(parseGrpcTimeout('5s')).toBeUndefined();
    expect(parseGrpcTimeout(undefined)).toBeUndefined();
  });
});
