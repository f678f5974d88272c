// The CLI's habits, in process: runCli with captured output against a scripted admin API on
// loopback (port 0) that records what it was asked. What the real control plane does with the
// requests is covered by test/integration/control-plane/cli.test.ts.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCli, VERBS } from '../../../control-plane/cli/main.js';
import type { Io } from '../../../control-plane/cli/context.js';
import { tempDir } from '../../harness/processes.js';

interface Run {
  code: number;
  out: string;
  err: string;
}

async function cli(args: string[], stdin = ''): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = { out: (s) => out.push(s), err: (s) => err.push(s), stdin: async () => stdin };
  const code = await runCli(args, io);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const PROXIES = [
  { nodeId: 'orders-v1-a1', role: 'sidecar', service: 'orders', namespace: 'default', userAgent: 'weft/0.1.0', stream: 'delta', connectedAt: '2026-12-03T10:00:00.000Z', revision: 4, types: { cluster: { state: 'SYNCED' } } },
  { nodeId: 'orders-v2-b2', role: 'sidecar', service: 'orders', namespace: 'default', userAgent: 'weft/0.1.0', stream: 'delta', connectedAt: '2026-12-03T10:00:01.000Z', revision: 4, types: { cluster: { state: 'SYNCED' } } },
  { nodeId: 'web-1', role: 'sidecar', service: 'web', namespace: 'shop', userAgent: 'weft/0.1.0', stream: 'sotw', connectedAt: '2026-12-03T10:00:02.000Z', revision: 4, types: {} },
  // Its id starts with 'web', its service is not web: `proxy-config web` still names web-1 alone.
  { nodeId: 'web-hooks-9', role: 'sidecar', service: 'hooks', namespace: 'default', userAgent: 'weft/0.1.0', stream: 'delta', connectedAt: '2026-12-03T10:00:03.000Z', revision: 4, types: {} },
];

const SERVICE = { apiVersion: 'weft.dev/v1alpha1', kind: 'Service', metadata: { name: 'orders', namespace: 'default', labels: { team: 'a' }, annotations: {} }, spec: {} };

describe('weft CLI habits (in process, scripted admin API)', () => {
  let server: Server;
  let url: string;
  let seen: Array<{ method: string; path: string; auth: string | undefined; body: string }> = [];
  const empty = tempDir('weft-no-token-');
  beforeAll(async () => {
    server = createServer(async (req: IncomingMessage, res) => {
      let body = '';
      for await (const c of req) body += String(c);
      seen.push({ method: req.method!, path: req.url!, auth: req.headers.authorization, body });
      const send = (status: number, v: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(v));
      if (req.headers.authorization !== 'Bearer good') return send(401, { code: 'ADMIN_UNAUTHORIZED', message: 'missing or wrong bearer token' });
      const path = req.url!.split('?')[0]!;
      if (path === '/v1/proxies') return send(200, { items: PROXIES });
      if (path === '/v1/resources') return send(200, { revision: 4, items: [SERVICE], summaries: { 'Service/default/orders': '1 port' } });
      if (path === '/v1/delete') {
        const keys = (JSON.parse(body) as { keys: string[] }).keys;
        return send(200, { revision: 5, deleted: keys });
      }
      const m = /^\/v1\/proxies\/([^/]+)\/config$/.exec(path);
      if (m) {
        const resources = {
          listener: [{ name: 'outbound', version: '4', resource: { address: { socketAddress: { address: '127.0.0.1', portValue: 15001 } } } }],
          cluster: [{ name: 'orders.default', version: '4', resource: { type: 'EDS', lbPolicy: 'LEAST_REQUEST' } }],
          endpoint: [{ name: 'orders.default', version: '4', resource: { endpoints: [{ lbEndpoints: [{}, {}] }] } }],
        };
        return send(200, { nodeId: decodeURIComponent(m[1]!), resources });
      }
      return send(404, { code: 'CONFIG_NOT_FOUND', message: `no route ${path}` });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => server?.close());
  beforeEach(() => {
    seen = [];
  });
  const conn = () => ['--server', url, '--token', 'good'];

  it('prints the version from package.json for --version and `weft version`', async () => {
    const { version } = JSON.parse(readFileSync(join(import.meta.dirname, '../../../package.json'), 'utf8')) as { version: string };
    for (const args of [['--version'], ['version']]) {
      const r = await cli(args);
      expect([r.code, r.out]).toEqual([0, `weft ${version}`]);
    }
  });

  it('lists every registered verb in --help, and each verb module agrees with its registry entry', async () => {
    const help = (await cli(['--help'])).out;
    for (const v of VERBS) {
      expect(help).toContain(`${v.name}  `);
      const verb = await v.load();
      expect([verb.name, verb.summary]).toEqual([v.name, v.summary]);
    }
  });

  it('prints one line and a pointer to --help on a usage error, not the whole usage', async () => {
    const r = await cli(['get', 'nonsense-kind', ...conn()]);
    expect(r.code).toBe(2);
    expect(r.err.split('\n')).toEqual([expect.stringContaining("error: unknown kind 'nonsense-kind'"), '  see `weft get --help`']);
    const flag = await cli(['proxy-status', '--bogus']);
    expect(flag.code).toBe(2);
    expect(flag.err.split('\n')).toHaveLength(2);
    expect(flag.err).toContain("Unknown option '--bogus'");
    expect(flag.err).toContain('see `weft proxy-status --help`');
    const verb = await cli(['proxy-statsu']);
    expect([verb.code, verb.err]).toEqual([2, "error: unknown verb 'proxy-statsu' (did you mean proxy-status or proxy-config?)\n  see `weft --help`"]);
    const fmt = await cli(['get', 'svc', '-o', 'xml', ...conn()]);
    expect(fmt.err.split('\n')[0]).toBe('error: -o xml: want table, wide, yaml or json');
  });

  it('uses namespace default for get unless -n or -A says otherwise', async () => {
    await cli(['get', 'svc', ...conn()]);
    await cli(['get', 'svc', '-n', 'shop', ...conn()]);
    await cli(['get', 'svc', '-A', ...conn()]);
    expect(seen.map((s) => new URL(s.path, url).searchParams.get('namespace'))).toEqual(['default', 'shop', null]);
    const both = await cli(['get', 'svc', '-A', '-n', 'x', ...conn()]);
    expect([both.code, both.err.split('\n')[0]]).toEqual([2, 'error: give -n NS or -A, not both']);
  });

  it('get -o wide adds labels and apiVersion; -o yaml prints the documents', async () => {
    const wide = await cli(['get', 'svc', '-o', 'wide', ...conn()]);
    expect(wide.out.split('\n')[0]).toMatch(/^KIND\s+NAMESPACE\s+NAME\s+SUMMARY\s+LABELS\s+API VERSION$/);
    expect(wide.out).toMatch(/Service\s+default\s+orders\s+1 port\s+team=a\s+weft\.dev\/v1alpha1/);
    const yaml = await cli(['get', 'svc', '-o', 'yaml', ...conn()]);
    expect(yaml.out).toContain('kind: Service');
    expect(yaml.out).toContain('name: orders');
  });

  it('accepts --server HOST:PORT without a scheme (http:// assumed)', async () => {
    const r = await cli(['get', 'svc', '--server', url.slice('http://'.length), '--token', 'good']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(seen).toHaveLength(1);
  });

  it('refuses a --server it cannot use, naming the fix', async () => {
    const r = await cli(['get', 'svc', '--server', 'grpc://127.0.0.1:15014', '--token', 'good']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('the admin API is http://HOST:PORT');
    expect(r.err).toContain('e.g. 127.0.0.1:15014');
  });

  it('says https:// was tried against a plain-HTTP admin API', async () => {
    const r = await cli(['get', 'svc', '--server', url.replace('http:', 'https:'), '--token', 'good']);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`cannot reach the control plane admin API at ${url.replace('http:', 'https:')}`);
    expect(r.err).toContain(`does not speak TLS: the admin API serves plain HTTP, try --server ${url}`);
  });

  it('with no token found, says so and where it looked, not "refused the token"', async () => {
    const r = await cli(['get', 'svc', '--server', url, '--data-dir', empty]);
    expect(r.code).toBe(1);
    expect(seen[0]!.auth).toBeUndefined();
    expect(r.err).toContain('no admin token was found');
    expect(r.err).toContain(`${join(empty, 'admin-token')} (--data-dir), which does not exist`);
    expect(r.err).toContain('Pass --token TOKEN (or WEFT_TOKEN), or --data-dir DIR');
    expect(r.err).not.toContain('refused');
    writeFileSync(join(empty, 'admin-token'), 'stale\n');
    const wrong = await cli(['get', 'svc', '--server', url, '--data-dir', empty]);
    expect(wrong.err).toContain(`refused the token from ${join(empty, 'admin-token')} (--data-dir)`);
  });

  it('proxy-config takes a service name or node-id prefix, and lists the matches when it is ambiguous', async () => {
    const one = await cli(['proxy-config', 'web', '-o', 'json', ...conn()]);
    expect(one.code).toBe(0);
    expect((JSON.parse(one.out) as { nodeId: string }).nodeId).toBe('web-1');
    const prefix = await cli(['proxy-config', 'orders-v2', ...conn()]);
    expect(seen.at(-1)!.path).toBe('/v1/proxies/orders-v2-b2/config');
    expect(prefix.out).toMatch(/CLUSTER\s+orders\.default\s+4/);
    const both = await cli(['proxy-config', 'orders', ...conn()]);
    expect(both.code).toBe(2);
    expect(both.err).toContain("'orders' matches 2 proxies: orders-v1-a1 (orders.default), orders-v2-b2 (orders.default); name one by its node id");
    const wide = await cli(['proxy-config', 'orders-v1-a1', '-o', 'wide', ...conn()]);
    expect(wide.out).toMatch(/LISTENER\s+outbound\s+4\s+127\.0\.0\.1:15001/);
    expect(wide.out).toMatch(/CLUSTER\s+orders\.default\s+4\s+EDS LEAST_REQUEST/);
    expect(wide.out).toMatch(/ENDPOINT\s+orders\.default\s+4\s+2 endpoints/);
  });

  it('proxy-status filters by service or node-id prefix; -o wide adds replica, user agent and connection time', async () => {
    const r = await cli(['proxy-status', 'orders', ...conn()]);
    expect(r.out.split('\n').filter((l) => l.startsWith('orders-')).length).toBe(2);
    expect(r.out).not.toContain('web-1');
    const ns = await cli(['proxy-status', 'web.shop', '-o', 'json', ...conn()]);
    expect((JSON.parse(ns.out) as Array<{ nodeId: string }>).map((p) => p.nodeId)).toEqual(['web-1']);
    const wide = await cli(['proxy-status', 'web', '-o', 'wide', ...conn()]);
    expect(wide.out.split('\n')[0]).toMatch(/REPLICA.*REVISION\s+USER AGENT\s+CONNECTED$/);
    const none = await cli(['proxy-status', 'nothing', ...conn()]);
    expect(none.out).toBe("no connected proxy matches 'nothing' (4 connected)");
  });

  it('delete -f sends every resource the documents name (stdin, several documents, default namespace) in one call', async () => {
    const yaml = 'apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: orders }\nspec: { bogus: field-not-read }\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: r, namespace: shop }\n---\napiVersion: weft.dev/v1alpha1\nkind: MeshConfig\nmetadata: { name: mesh, namespace: ignored }\n';
    const r = await cli(['delete', '-f', '-', ...conn()], yaml);
    expect(r.err).toBe('');
    expect(seen.map((s) => [s.method, s.path])).toEqual([['POST', '/v1/delete']]);
    expect(JSON.parse(seen[0]!.body)).toEqual({ keys: ['Service/default/orders', 'HTTPRoute/shop/r', 'MeshConfig/default/mesh'] });
    expect(r.out.split('\n')).toEqual(['Service/default/orders deleted (revision 5)', 'HTTPRoute/shop/r deleted (revision 5)', 'MeshConfig/default/mesh deleted (revision 5)']);
    const bad = await cli(['delete', '-f', '-', ...conn()], 'kind: Nope\nmetadata: { name: x }\n---\nkind: Service\nmetadata: {}\n');
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('-#0 kind: unknown kind "Nope"');
    expect(bad.err).toContain('-#1 metadata.name: is missing');
    expect(seen).toHaveLength(1); // nothing sent for the bad file
    const names = await cli(['delete', 'svc', 'a', 'b', '-n', 'shop', ...conn()]);
    expect(names.out).toBe('Service/shop/a deleted (revision 5)\nService/shop/b deleted (revision 5)');
    expect(JSON.parse(seen[1]!.body)).toEqual({ keys: ['Service/shop/a', 'Service/shop/b'] });
    const mixed = await cli(['delete', 'svc', 'a', '-f', '-', ...conn()]);
    expect([mixed.code, mixed.err.split('\n')[0]]).toEqual([2, 'error: give -f FILE or KIND NAME, not both']);
  });
});
