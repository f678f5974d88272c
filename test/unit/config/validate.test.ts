// Table-driven validation: good documents become the model with defaults; bad ones produce every
// error with its exact path; references are checked against stored config plus the apply.
import { describe, expect, it } from 'vitest';
import { parseDocuments, validateApply, checkDelete, parseDuration } from '../../../control-plane/config/index.js';
import { parseDocumentsCarefully } from '../../../control-plane/config/parse.js';
import { type MeshResource } from '../../../control-plane/config/types.js';
import { buildModel } from '../../../control-plane/config/model.js';

const empty = buildModel(0, []);
function apply(yaml: string, model = empty) {
  const { docs, errors } = parseDocuments(yaml, 'f.yaml');
  const v = validateApply(docs, model);
  return { resources: v.resources, errors: [...errors, ...v.errors] };
}
const paths = (yaml: string, model = empty) => apply(yaml, model).errors.map((e) => e.path).sort();

const SVC = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: orders }
spec:
  ports: [{ name: http, port: 8080 }, { name: grpc, port: 9090, protocol: grpc }]
  endpoints: [{ address: 10.0.0.1, labels: { version: v1 } }, { address: "::1", port: 7000, zone: z1, weight: 3 }]
`;
const TP = `apiVersion: weft.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: orders }
spec:
  targetRef: { kind: Service, name: orders }
  loadBalancer: { type: RingHash, ringHash: { hashOn: header, header: X-User } }
  subsets: [{ name: v1, labels: { version: v1 } }]
  connectionPool: { maxRequests: 10 }
  outlierDetection: {}
  healthCheck: { path: /healthz }
  retry: { attempts: 3, retryOn: [5xx], perTryTimeout: 250ms, backoff: { baseInterval: 10ms }, budget: { percent: 25 } }
`;

describe('durations', () => {
  it.each([
    ['250ms', 250], ['1s', 1000], ['1.5s', 1500], ['2m', 120_000], ['1h', 3_600_000],
    ['1', undefined], ['-1s', undefined], ['1d', undefined], ['s', undefined],
  ])('%s -> %s', (s, ms) => expect(parseDuration(s)).toBe(ms));
});

describe('good documents', () => {
  it('Service: defaults for namespace, protocol, weight; IPv6 endpoint', () => {
    const { resources, errors } = apply(SVC);
    expect(errors).toEqual([]);
    const { source, ...normalised } = resources[0]!;
    // The document as applied is kept verbatim (for `weft get -o yaml`); the spec gets defaults.
    expect(source).toEqual({
      apiVersion: 'weft.dev/v1alpha1', kind: 'Service', metadata: { name: 'orders', namespace: 'default' },
      spec: {
        ports: [{ name: 'http', port: 8080 }, { name: 'grpc', port: 9090, protocol: 'grpc' }],
        endpoints: [{ address: '10.0.0.1', labels: { version: 'v1' } }, { address: '::1', port: 7000, zone: 'z1', weight: 3 }],
      },
    });
    expect(normalised).toEqual({
      apiVersion: 'weft.dev/v1alpha1',
      kind: 'Service',
      metadata: { name: 'orders', namespace: 'default', labels: {}, annotations: {} },
      spec: {
        ports: [{ name: 'http', port: 8080, protocol: 'http' }, { name: 'grpc', port: 9090, protocol: 'grpc' }],
        endpoints: [{ address: '10.0.0.1', labels: { version: 'v1' }, weight: 1 }, { address: '::1', port: 7000, zone: 'z1', labels: {}, weight: 3 }],
      },
    });
  });

  it('TrafficPolicy: every block gets its documented defaults', () => {
    const { resources, errors } = apply(`${SVC}---\n${TP}`);
    expect(errors).toEqual([]);
    const tp = resources[1] as Extract<MeshResource, { kind: 'TrafficPolicy' }>;
    expect(tp.spec.loadBalancer).toEqual({ type: 'RingHash', choiceCount: 2, localityAware: false, panicThresholdPercent: 50, ringHash: { hashOn: 'header', header: 'x-user', minRingSize: 1024, maxRingSize: 8388608 } });
    expect(tp.spec.connectionPool).toEqual({ maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 10, maxRetries: 4294967295, connectTimeoutMs: 5000 });
    expect(tp.spec.outlierDetection).toEqual({ consecutive5xx: 5, consecutiveGatewayErrors: 5, intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 10 });
    expect(tp.spec.healthCheck).toEqual({ path: '/healthz', intervalMs: 10_000, timeoutMs: 1000, unhealthyThreshold: 2, healthyThreshold: 2, expectedStatuses: [[200, 400]] });
    expect(tp.spec.retry).toEqual({ attempts: 3, retryOn: ['5xx'], codes: [], perTryTimeoutMs: 250, backoff: { baseIntervalMs: 10, maxIntervalMs: 100 }, budget: { budgetPercent: 25, minRetryConcurrency: 3 } });
  });

  it('HTTPRoute with matches, filters, weighted subsets, timeouts and retry', () => {
    const route = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec:
  parentRefs: [{ name: orders, port: 8080 }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /api }, headers: [{ name: x-canary, value: "1" }], queryParams: [{ type: RegularExpression, name: v, value: "^2" }], method: GET }]
      filters:
        - { type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-a, value: b }], remove: [x-c] } }
        - { type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /v2 } } }
      backendRefs: [{ name: orders, port: 8080, subset: v1, weight: 9 }, { name: orders, port: 8080, weight: 1 }]
      timeouts: { request: 2s, backendRequest: 500ms }
      retry: { attempts: 2, codes: [503] }
    - filters: [{ type: RequestRedirect, requestRedirect: { scheme: https, statusCode: 301 } }]
`;
    const { resources, errors } = apply(`${SVC}---\n${TP}---\n${route}`);
    expect(errors).toEqual([]);
    const r = resources[2] as Extract<MeshResource, { kind: 'HTTPRoute' }>;
    expect(r.spec.rules[0]!.retry).toEqual({ attempts: 2, retryOn: ['retriable-status-codes'], codes: [503] });
    expect(r.spec.rules[0]!.timeouts).toEqual({ request: 2000, backendRequest: 500 });
    expect(r.spec.rules[1]!.filters[0]).toEqual({ type: 'RequestRedirect', requestRedirect: { scheme: 'https', statusCode: 301 } });
  });
});

describe('numbers as stored', () => {
  it('-0 in any spelling reads as 0 (JSON, the store and the API, has no -0: what is applied is what comes back)', () => {
    for (const v of ['-0', '-0.0', '-0e3', '-.0']) {
      const { docs, errors } = parseDocuments(`a: ${v}\nb: [${v}]\nc: { d: ${v} }\n`, 't.yaml');
      expect(errors).toEqual([]);
      const o = docs[0]!.value as { a: number; b: number[]; c: { d: number } };
      for (const x of [o.a, o.b[0], o.c.d]) expect(Object.is(x, 0), `${v} -> ${Object.is(x, -0) ? '-0' : String(x)}`).toBe(true);
    }
  });
});

describe('line breaks and white space as YAML reads them, on both parse paths', () => {
  // Characters where JavaScript's idea of a line end or a space (/m regexes, \s) differs from
  // YAML's (line breaks \n and \r\n, white space space and tab), placed where the fast path splits
  // documents, counts lines and spots markers. A fuzz finding (a file of one \r) led here.
  const chars = ['\u2028', '\u2029', '\u0085', '\u00a0', '\ufeff', '\v', '\f', '\u3000', '\t', '\u200b'];
  const shapes = [(c: string) => c, (c: string) => ' ' + c, (c: string) => '#c' + c + 'x', (c: string) => c + '\na: 1', (c: string) => 'a: 1\n---\n' + c + '\n---\nb: 2',
    (c: string) => '---\n#x' + c + 'y\n---\nb: 2', (c: string) => c + '---\na: 1', (c: string) => '%YAML 1.2' + c + '\n---\na: 1', (c: string) => 'a: 1\n' + c + '---\nb: 2',
    (c: string) => '\n\n' + c + 'a: 1\n---\nb: 2', (c: string) => '---' + c + '\na: 1\n---\nb: 2', (c: string) => 'a: 1\n...' + c + '\nb: 2', (c: string) => 'a: 1\n#' + c + '---\nb: 2'];
  const read = (t: string, parse: (text: string, file: string) => ReturnType<typeof parseDocuments>) => {
    const r = parse(t, 't.yaml');
    return { docs: r.docs.map((d) => [d.index, d.line, d.value]), errors: r.errors.length };
  };
  it('the fast path gives the careful parser\'s documents, indexes and lines', () => {
    for (const c of chars) {
      for (const shape of shapes) {
        const t = shape(c);
        expect(read(t, parseDocuments), JSON.stringify(t)).toEqual(read(t, parseDocumentsCarefully));
      }
    }
    // Content on a `---` line: js-yaml starts a block collection there, YAML (and `yaml`) does not.
    // A line of `---` or `...` and more (a plain scalar, not a marker), a comment right after a
    // quoted scalar, a byte-order mark starting a later line: fuzz findings of the same kind.
    for (const t of ['--- a: 1\n', '---  b: 2- x\n', '--- - x\n', '--- text\n---\nb: 2\n', '--- # c\na: 1\n', '------\n---\na: 1\n', '---...\n---\na: 1\n', '...x\n',
      '"q"#c\n', '[a]#c\n', '\ufeff#c\n---\na: 1\n', '\r\n\ufeff\n---\n0\n', 'a: 1\n\ufeff\n']) {
      expect(read(t, parseDocuments), JSON.stringify(t)).toEqual(read(t, parseDocumentsCarefully));
    }
    expect(parseDocuments('--- a: 1\n', 't.yaml').errors[0]?.message).toMatch(/cannot start on same line with directives-end marker/);
    // Indented first content after blank lines: its own line, not the chunk's first.
    expect(parseDocuments('\n\n  a: 1\n---\nb: 2', 't.yaml').docs.map((d) => d.line)).toEqual([3, 4]);
  });
  it('a carriage return without a line feed refuses the file, with its line (the parsers disagree on what it is)', () => {
    for (const t of ['\r', ' \r', 'a: 1\r\nb: 2\rc: 3', 'a: "x\ry"', 'a: 1\r']) {
      for (const parse of [parseDocuments, parseDocumentsCarefully]) {
        const r = parse(t, 't.yaml');
        expect(r.docs, JSON.stringify(t)).toEqual([]);
        expect(r.errors).toEqual([{ file: 't.yaml', document: 0, path: '', message: `line ${t.startsWith('a: 1\r\n') ? 2 : 1}: a carriage return (\\r) not followed by a line feed; line breaks must be LF or CRLF` }]);
      }
    }
    expect(parseDocuments('a: 1\n---\nb: 2\n---\nc: "x\ry"\n', 't.yaml').errors).toEqual([{ file: 't.yaml', document: 2, path: '', message: 'line 5: a carriage return (\\r) not followed by a line feed; line breaks must be LF or CRLF' }]);
    // CRLF files, and an escaped \r in a double-quoted string, are fine.
    expect(parseDocuments('a: 1\r\n---\r\nb: "x\\ry"\r\n', 't.yaml')).toEqual({ errors: [], docs: [{ file: 't.yaml', index: 0, line: 1, value: { a: 1 } }, { file: 't.yaml', index: 1, line: 2, value: { b: 'x\ry' } }] });
  });
});

describe('bad documents: every error, exact paths', () => {
  it.each([
    ['unknown top-level and spec fields', `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: a }\nspec: { ports: [{ port: 1 }], colour: red }\nstatus: {}\n`, ['spec.colour', 'status']],
    ['wrong apiVersion and bad name', `apiVersion: v1\nkind: Service\nmetadata: { name: Bad_Name }\nspec: { ports: [{ port: 1 }] }\n`, ['apiVersion', 'metadata.name']],
    ['ports: range, duplicates, protocol', `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: a }\nspec: { ports: [{ port: 0 }, { name: x, port: 2, protocol: udp }, { name: x, port: 2 }] }\n`, ['spec.ports[0].port', 'spec.ports[1].protocol', 'spec.ports[2].name', 'spec.ports[2].port']],
    ['endpoint address must be an IP', `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: a }\nspec: { ports: [{ port: 1 }], endpoints: [{ address: example.com, weight: 500 }] }\n`, ['spec.endpoints[0].address', 'spec.endpoints[0].weight']],
    ['unknown kind', `apiVersion: weft.dev/v1alpha1\nkind: UDPRoute\nmetadata: { name: a }\n`, ['kind']],
    ['MeshConfig must be named mesh', `apiVersion: weft.dev/v1alpha1\nkind: MeshConfig\nmetadata: { name: other }\nspec: { mtls: { mode: ON }, tracing: { samplingPercent: 101 } }\n`, ['metadata.name', 'spec.mtls.mode', 'spec.tracing.samplingPercent']],
  ])('%s', (_name, yaml, want) => expect(paths(yaml)).toEqual([...want].sort()));

  it('route mistakes, dangling references and bad regexes in one report', () => {
    const yaml = `${SVC}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec:
  parentRefs: [{ name: nowhere }]
  rules:
    - matches: [{ path: { type: RegularExpression, value: "([" } , method: FETCH }]
      backendRefs: [{ name: orders, weight: -1 }, { name: orders, port: 8080, subset: v9 }, { name: ghost, port: 1 }]
      timeouts: { request: 1s, backendRequest: 2s }
      retry: { attempts: 11, retryOn: [sometimes] }
`;
    const errs = apply(yaml).errors;
    expect(errs.map((e) => e.path).sort()).toEqual([
      'spec.parentRefs[0].name',
      'spec.rules[0].backendRefs[0].port',
      'spec.rules[0].backendRefs[0].weight',
      'spec.rules[0].backendRefs[1].subset',
      'spec.rules[0].backendRefs[2].name',
      'spec.rules[0].matches[0].method',
      'spec.rules[0].matches[0].path.value',
      'spec.rules[0].retry.attempts',
      'spec.rules[0].retry.retryOn[0]',
      'spec.rules[0].timeouts.backendRequest',
    ]);
    expect(errs.every((e) => e.file === 'f.yaml' && e.document === 1 && e.resource === 'HTTPRoute/default/r')).toBe(true);
  });

  it('rejects header values with CR/LF and regexes with nested quantifiers', () => {
    const yaml = `${SVC}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec:
  parentRefs: [{ name: orders, port: 8080 }]
  rules:
    - matches: [{ headers: [{ type: RegularExpression, name: x-a, value: "(a+)+$" }] }]
      filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-b, value: "ok\\r\\nInjected: 1" }] } }]
      backendRefs: [{ name: orders, port: 8080 }]
`;
    expect(paths(yaml)).toEqual(['spec.rules[0].filters[0].requestHeaderModifier.set[0].value', 'spec.rules[0].matches[0].headers[0].value']);
  });

  it('reports YAML syntax errors with the line', () => {
    const errs = apply('apiVersion: x\nkind: [\n').errors;
    expect(errs[0]!.message).toMatch(/YAML syntax error at line \d/);
  });

  it('rejects duplicates in one apply and two policies for one service', () => {
    const tp2 = TP.replace('name: orders }\nspec', 'name: other }\nspec');
    expect(apply(`${SVC}---\n${SVC}`).errors.map((e) => e.message).join()).toMatch(/appears twice/);
    expect(apply(`${SVC}---\n${TP}---\n${tp2}`).errors.map((e) => e.message).join()).toMatch(/already has TrafficPolicy/);
  });
});

describe('references against stored config', () => {
  it('a route may reference a stored service; deleting that service is refused naming the route', () => {
    const stored = buildModel(1, apply(SVC).resources);
    const route = `apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: r }\nspec:\n  parentRefs: [{ name: orders }]\n  rules: [{ backendRefs: [{ name: orders, port: 8080 }] }]\n`;
    const { resources, errors } = apply(route, stored);
    expect(errors).toEqual([]);
    const both = buildModel(2, [...stored.resources.values(), ...resources]);
    const del = checkDelete(['Service/default/orders'], both);
    expect(del.map((e) => `${e.resource} ${e.path}`)).toContain('HTTPRoute/default/r spec.parentRefs[0].name');
  });
});

describe('nothing accepted and then ignored', () => {
  const route = (name: string, parent: string, hostnames: string, extra = '') => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name} }
spec:
  parentRefs: [{ name: ${parent}, port: 8080 }]
  hostnames: ${hostnames}
  rules:
    - backendRefs: [{ name: ${parent}, port: 8080 }]
${extra}`;
  const WEB = SVC.replace('name: orders }', 'name: web }');

  it('accepts a RequestMirror filter now that sidecars mirror (it was refused before)', () => {
    const yaml = `${SVC}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec:
  parentRefs: [{ name: orders, port: 8080 }]
  rules:
    - filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: orders, port: 8080 }, percent: 10 } }]
      backendRefs: [{ name: orders, port: 8080 }]
`;
    const { errors, resources } = apply(yaml);
    expect(errors).toEqual([]);
    const route = resources.find((r) => r.kind === 'HTTPRoute') as Extract<MeshResource, { kind: 'HTTPRoute' }>;
    expect(route.spec.rules[0]!.filters).toEqual([{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'orders', namespace: 'default', port: 8080, weight: 1 }, fraction: { numerator: 10, denominator: 100 } } }]);
  });

  it('accepts route hostnames that are not mesh service names, and refuses ones that are', () => {
    expect(apply(`${SVC}---\n${route('r', 'orders', '[www.shop.example, "*.shop.example"]')}`).errors).toEqual([]);
    expect(paths(`${SVC}---\n${WEB}---\n${route('r', 'orders', '[web, web.default, web.default.svc, orders]')}`)).toEqual(['spec.hostnames[0]', 'spec.hostnames[1]', 'spec.hostnames[2]', 'spec.hostnames[3]']);
  });

  it('refuses one hostname claimed by routes of two services, in one apply or against stored config', () => {
    const both = `${SVC}---\n${WEB}---\n${route('a', 'orders', '[www.shop.example]')}---\n${route('b', 'web', '[www.shop.example]')}`;
    expect(paths(both)).toEqual(['spec.hostnames[0]', 'spec.hostnames[0]']);
    const stored = buildModel(1, apply(`${SVC}---\n${WEB}---\n${route('a', 'orders', '[www.shop.example]')}`).resources);
    const errs = apply(route('b', 'web', '[www.shop.example]'), stored).errors;
    expect(errs.find((e) => e.resource === 'HTTPRoute/default/b')?.message).toMatch(/claimed by routes of several Services \(default\/orders, default\/web\)/);
  });

  it('reads MeshConfig http settings, and refuses h2c, CONNECT and unknown escaped-slash actions', () => {
    const mc = (http: string) => `apiVersion: weft.dev/v1alpha1\nkind: MeshConfig\nmetadata: { name: mesh }\nspec: { http: ${http} }\n`;
    const ok = apply(mc('{ normalizePath: false, mergeSlashes: false, escapedSlashes: UnescapeAndForward, upgrades: [websocket, Foo/2] }'));
    expect(ok.errors).toEqual([]);
    expect((ok.resources[0] as Extract<MeshResource, { kind: 'MeshConfig' }>).spec.http).toEqual({ normalizePath: false, mergeSlashes: false, escapedSlashes: 'UnescapeAndForward', upgrades: ['websocket', 'foo/2'] });
    expect(paths(mc('{ normalizePath: yes, escapedSlashes: Decode, upgrades: [h2c, CONNECT, "bad token", websocket, WebSocket] }'))).toEqual([
      'spec.http.escapedSlashes', 'spec.http.normalizePath', 'spec.http.upgrades[0]', 'spec.http.upgrades[1]', 'spec.http.upgrades[2]', 'spec.http.upgrades[4]',
    ]);
  });
});
