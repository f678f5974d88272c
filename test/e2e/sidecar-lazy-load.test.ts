// A sidecar loads what its config uses, not every library it could use (issue 24 item 4: a
// smaller idle sidecar). Checked by what the sidecar process resolves (test/harness/import-trace.mjs,
// a loader hook), not by timing or RSS: idle, with a plain mesh config, it has not loaded the
// OpenTelemetry propagators, SDK and exporter, jose, ioredis or fast-xml-parser. Once the mesh exports spans,
// the SDK is loaded before that Listener is applied (the xDS client holds the update for it), so the
// first request after the ACK is already traced and the sidecar never logs that it configured
// tracing without the SDK.
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, ROOT, startApp, startControlPlane, startSidecar, tempDir, weftApply, type AppProc, type ControlPlaneProc, type SidecarProc } from '../harness/processes.js';

/** Libraries only some configs need: tracing (the API, propagators, SDK and exporter: for an endpoint), JWT, Redis, XML transformation, JSON Schema validation. */
const OPTIONAL = [/node_modules\/@opentelemetry\/api\//, /node_modules\/@opentelemetry\/core\//, /node_modules\/@opentelemetry\/propagator-b3\//, /node_modules\/@opentelemetry\/sdk-trace-base\//, /node_modules\/@opentelemetry\/exporter-trace-otlp-proto\//, /node_modules\/jose\//, /node_modules\/ioredis\//, /node_modules\/fast-xml-parser\//, /node_modules\/ajv\//, /node_modules\/ajv-formats\//];
/** Never loaded by a sidecar: its control-plane channel is its own (sidecar/xds/grpc-channel.ts). */
const NEVER = [/node_modules\/@grpc\/grpc-js\//];
const AJV = /node_modules\/ajv\//;

const SERVICES = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: web }
spec:
  ports: [{ name: http, port: 8080, protocol: http }]
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: api }
spec:
  ports: [{ name: http, port: 8080, protocol: http }]
`;

/** GET through a sidecar's outbound listener to `host` (node:http: fetch would not send our Host). */
const get = (port: number, host: string, path: string) => send(port, host, 'GET', path);
/** A request to a sidecar's listener; the status (0: no answer). */
const send = (port: number, host: string, method: string, path: string, body?: string) =>
  new Promise<number>((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers: { host, ...(body === undefined ? {} : { 'content-type': 'application/json' }) } }, (r) => {
      r.resume();
      r.on('end', () => resolve(r.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.end(body);
  });

/** A ValidationPolicy for web's inbound listener: POST bodies must be {"n": integer}. */
const VALIDATION = `apiVersion: weft.dev/v1alpha1
kind: ValidationPolicy
metadata: { name: web-body }
spec:
  targetRefs: [{ group: weft.dev, kind: Service, name: web }]
  requestBodySchema: { type: object, required: [n], properties: { n: { type: integer } } }
`;

describe('a sidecar loads only what its config uses', () => {
  let cp: ControlPlaneProc;
  let app: AppProc;
  let web: SidecarProc;
  let api: SidecarProc;
  const trace = join(tempDir('weft-imports-'), 'trace');
  const loaded = () => [...new Set(readFileSync(trace, 'utf8').split('\n').filter((u) => u.startsWith('file:')).map((u) => u.slice(`file://${ROOT}/`.length)))];

  beforeAll(async () => {
    cp = await startControlPlane({ extraArgs: ['--otlp-address', 'off'] });
    expect((await weftApply(cp, SERVICES)).code).toBe(0);
    app = await startApp('http', 'api-1');
    api = await startSidecar(cp.xdsPort, { service: 'api', appPort: app.port });
    web = await startSidecar(cp.xdsPort, { service: 'web', appPort: app.port, env: { NODE_OPTIONS: `--import ${join(ROOT, 'test/harness/import-trace.mjs')}`, WEFT_IMPORT_TRACE: trace } });
  }, 60_000);
  afterAll(async () => {
    await Promise.all([web?.kill(), api?.kill(), app?.kill(), cp?.kill()]);
  });

  it('idle and serving a plain config: none of the optional libraries', async () => {
    await eventually(async () => (await get(web.outboundPort, 'api', '/x')) === 200, 20_000);
    const mods = loaded();
    expect(mods).toContain('dist/sidecar-bundle/main.js'); // the hook saw the sidecar load, from its bundle
    expect(mods.filter((m) => m.startsWith('dist/sidecar/'))).toEqual([]); // and nothing of the unbundled tree
    expect(mods.filter((m) => OPTIONAL.some((o) => o.test(m)))).toEqual([]);
    expect(mods.filter((m) => NEVER.some((o) => o.test(m)))).toEqual([]);
    // Nor node:cluster, which only --workers needs.
    expect(readFileSync(trace, 'utf8').split('\n')).not.toContain('node:cluster');
  });

  it('the bundle leaves the optional libraries outside it, so they stay in node_modules and load on demand', () => {
    // scripts/bundle-sidecar.mjs's `external`: esbuild marks each bundled module with a
    // `// node_modules/PKG/...` comment, so a library that went into the bundle shows here.
    const dir = join(ROOT, 'dist/sidecar-bundle');
    const bundled = new Set(readdirSync(dir).filter((f) => f.endsWith('.js')).flatMap((f) => [...readFileSync(join(dir, f), 'utf8').matchAll(/^\/\/ (node_modules\/(?:@[^/]+\/)?[^/]+)\//gm)].map((m) => `${m[1]}/`)));
    expect(bundled).toContain('node_modules/@bufbuild/protobuf/'); // always-loaded libraries are inside
    expect([...bundled].filter((m) => [...OPTIONAL, ...NEVER].some((o) => o.test(m)))).toEqual([]);
  });

  it('a mesh that exports spans: the SDK is loaded before the Listener is applied, and the first request after it is traced', async () => {
    const stat = async (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(await (await fetch(`${web.admin}/stats/prometheus`)).text())?.[1] ?? 0);
    const before = await stat('weft_tracing_spans_started_total');
    expect(before).toBe(0);
    expect((await weftApply(cp, `apiVersion: weft.dev/v1alpha1\nkind: MeshConfig\nmetadata: { name: mesh }\nspec:\n  tracing: { samplingPercent: 100, endpoint: "http://127.0.0.1:9/v1/traces" }\n`)).code).toBe(0);
    // The Listener with tracing is accepted and applied (the sidecar's config dump shows what it
    // committed, which happens together with the ACK) ...
    await eventually(async () => (await fetch(`${web.admin}/config_dump`).then((x) => x.text())).includes('envoy.tracers.opentelemetry'), 20_000);
    // ... and the very next request makes a span: no window in which requests go unsampled.
    expect(await get(web.outboundPort, 'api', '/y')).toBe(200);
    expect(await stat('weft_tracing_spans_started_total')).toBeGreaterThan(before);
    expect(loaded().some((m) => /node_modules\/@opentelemetry\/sdk-trace-base\//.test(m))).toBe(true);
    expect(loaded().some((m) => /node_modules\/@opentelemetry\/api\//.test(m))).toBe(true);
    expect(web.output()).not.toMatch(/was not loaded before the config/);
  });

  it('a ValidationPolicy: Ajv is loaded before the Listener that needs it is decoded, and its first request is checked', async () => {
    expect(loaded().some((m) => AJV.test(m))).toBe(false);
    expect(await send(web.inboundPort, 'web', 'POST', '/v', '{"n":"x"}')).toBe(200); // no policy yet: passed through
    expect((await weftApply(cp, VALIDATION)).code).toBe(0);
    await eventually(async () => (await fetch(`${web.admin}/config_dump`).then((x) => x.text())).includes('weft.filters.http.validation'), 20_000);
    expect(await send(web.inboundPort, 'web', 'POST', '/v', '{"n":"x"}')).toBe(400);
    expect(await send(web.inboundPort, 'web', 'POST', '/v', '{"n":1}')).toBe(200);
    expect(loaded().some((m) => AJV.test(m))).toBe(true);
    expect(web.output()).not.toMatch(/NACK|not loaded/);
  });
});
