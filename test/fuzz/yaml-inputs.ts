// fast-check arbitraries for `weft apply` input: documents of every kind taken from docs/config.md,
// the same with one field mutated, random YAML, alias structures (up to bombs), deep nesting, huge
// scalars, binary garbage, and multi-document streams mixing all of these.
import fc from 'fast-check';
import { stringify } from 'yaml';

/** One valid document of each kind (docs/config.md), as data so fields can be mutated. */
export const SEEDS: ReadonlyArray<Record<string, unknown>> = [
  {
    apiVersion: 'weft.dev/v1alpha1', kind: 'Service', metadata: { name: 'orders' },
    spec: { ports: [{ name: 'http', port: 8080, protocol: 'http' }, { name: 'grpc', port: 9090, protocol: 'grpc' }], endpoints: [{ address: '127.0.0.1', port: 9001, labels: { version: 'v1' }, zone: 'zone-a' }, { address: '127.0.0.1', port: 9002, labels: { version: 'v2' } }] },
  },
  {
    apiVersion: 'weft.dev/v1alpha1', kind: 'TrafficPolicy', metadata: { name: 'orders' },
    spec: {
      targetRef: { kind: 'Service', name: 'orders' },
      loadBalancer: { type: 'RingHash', ringHash: { hashOn: 'cookie', cookie: { name: 'session', ttl: '1h' } } },
      subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }],
      connectionPool: { maxConnections: 100, maxPendingRequests: 50, connectTimeout: '1s' },
      outlierDetection: { consecutive5xx: 3, baseEjectionTime: '10s', maxEjectionPercent: 50 },
      healthCheck: { path: '/healthz', interval: '5s' },
      retry: { attempts: 3, retryOn: ['5xx', 'connect-failure'], budget: { percent: 20 } },
    },
  },
  {
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'orders-canary' },
    spec: {
      parentRefs: [{ kind: 'Service', name: 'orders', port: 8080 }],
      rules: [{
        matches: [{ path: { type: 'PathPrefix', value: '/api' } }],
        filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-canary', value: 'true' }] } }],
        backendRefs: [{ name: 'orders', port: 8080, subset: 'v1', weight: 90 }, { name: 'orders', port: 8080, subset: 'v2', weight: 10 }],
        timeouts: { request: '5s', backendRequest: '1s' },
        retry: { attempts: 3, retryOn: ['5xx', 'reset'], backoff: { baseInterval: '25ms' } },
      }],
    },
  },
  {
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GRPCRoute', metadata: { name: 'orders-grpc' },
    spec: { parentRefs: [{ kind: 'Service', name: 'orders', port: 9090 }], rules: [{ matches: [{ method: { service: 'helloworld.Greeter', method: 'SayHello' } }], backendRefs: [{ name: 'orders', port: 9090, subset: 'v1', weight: 90 }, { name: 'orders', port: 9090, subset: 'v2', weight: 10 }] }] },
  },
  {
    apiVersion: 'weft.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: { name: 'orders-callers' },
    spec: { service: 'orders', action: 'ALLOW', rules: [{ from: [{ principals: ['spiffe://cluster.local/ns/default/sa/frontend'] }], to: [{ methods: ['GET', 'POST'], paths: ['/api/*'] }] }, { from: [{ namespaces: ['ops'] }], when: [{ header: 'x-ops-ticket', values: ['*'] }] }] },
  },
  {
    apiVersion: 'weft.dev/v1alpha1', kind: 'GRPCTranslation', metadata: { name: 'orders-json' },
    spec: { service: 'orders', protoServices: ['bookstore.Bookstore'], descriptorSet: 'CpYBChlnb29nbGUv' },
  },
  { apiVersion: 'weft.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: 'mesh' }, spec: { mtls: { mode: 'PERMISSIVE' }, tracing: { samplingPercent: 10 } } },
];

/** Every path (array of keys) into a document, for mutations. */
function paths(v: unknown, prefix: Array<string | number> = [], out: Array<Array<string | number>> = []): Array<Array<string | number>> {
  out.push(prefix);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...prefix, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...prefix, k], out);
  return out;
}

function setAt(doc: unknown, path: Array<string | number>, value: unknown, remove: boolean): unknown {
  if (path.length === 0) return value;
  const copy = structuredClone(doc) as Record<string | number, unknown>;
  let o = copy;
  for (const k of path.slice(0, -1)) o = o[k] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (remove) {
    if (Array.isArray(o)) o.splice(Number(last), 1);
    else delete o[last];
  } else o[last] = value;
  return copy;
}

/** Odd values: wrong types, boundaries, strings that look like other things. */
const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(0, -1, 65536, 1e308, -0, 0.5, 2 ** 53, '', ' ', '0', 'true', 'null', '~', '*', '/', '../..', 'a'.repeat(300), '\u0000', '\ud800', 'é', 'UPPER', 'x:y', '-1s', '1e3s', '999999999h', null, true, false, [], {}, [null], { '': '' }),
  fc.string({ maxLength: 20 }),
  fc.integer(),
  fc.double(),
  fc.jsonValue({ maxDepth: 3 }),
);

/** A seed document with one to three fields replaced, removed or added. */
export const mutatedDoc: fc.Arbitrary<unknown> = fc
  .tuple(fc.constantFrom(...SEEDS), fc.array(fc.tuple(fc.nat(), fc.constantFrom('set', 'remove', 'add'), oddValue, fc.string({ maxLength: 8 })), { minLength: 1, maxLength: 3 }))
  .map(([seed, muts]) => {
    let doc: unknown = seed;
    for (const [i, op, value, key] of muts) {
      const all = paths(doc);
      const p = all[i % all.length]!;
      if (op === 'add') {
        const target = p.reduce<unknown>((o, k) => (o as Record<string | number, unknown>)?.[k], doc);
        if (target && typeof target === 'object' && !Array.isArray(target)) doc = setAt(doc, [...p, key || 'extra'], value, false);
        else doc = setAt(doc, p, value, false);
      } else doc = setAt(doc, p, value, op === 'remove' && p.length > 0);
    }
    return doc;
  });

const yamlOf = (v: unknown): string => stringify(v, { lineWidth: 0 });

/** YAML text of one document: valid, mutated, or random data. */
const dataDocText: fc.Arbitrary<string> = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom(...SEEDS).map(yamlOf) },
  { weight: 5, arbitrary: mutatedDoc.map(yamlOf) },
  { weight: 1, arbitrary: mutatedDoc.map((d) => JSON.stringify(d)) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map(yamlOf) },
);

/**
 * Apply input arbitraries. `scale` (0..1] shrinks the largest inputs (huge scalars, many keys):
 * the in-process suite runs thousands of small ones, the process suite hundreds of full-size ones.
 * Every limit (depth 64, 100 aliases) is still crossed at the smallest scale.
 */
export function applyInputs(scale = 1): { fileText: fc.Arbitrary<string>; files: fc.Arbitrary<Array<{ name: string; content: string }>> } {
  const big = (n: number) => Math.max(10, Math.round(n * scale));
  /** Hostile or broken YAML text. */
  const hostileText: fc.Arbitrary<string> = fc.oneof(
    // a billion laughs, `levels` deep
    fc.integer({ min: 2, max: 12 }).map((levels) => {
      let s = 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n';
      for (let i = 1; i < levels; i++) s += `a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]\n`;
      return s;
    }),
    // one anchor, many aliases
    fc.integer({ min: 1, max: 400 }).map((n) => `base: &b { k: v }\nuses: [${Array(n).fill('*b').join(', ')}]\n`),
    // aliases to undefined or later anchors, anchors on keys
    fc.constantFrom('a: *nope\n', 'a: *b\nb: &b 1\n', '&k key: 1\n*k : 2\n', '? &x [a]\n: 1\n? *x\n: 2\n'),
    // deep flow and block nesting
    fc.integer({ min: 1, max: 3000 }).map((d) => `${'['.repeat(d)}x${']'.repeat(d)}\n`),
    fc.integer({ min: 1, max: 3000 }).map((d) => `${'{a: '.repeat(d)}1${'}'.repeat(d)}\n`),
    fc.integer({ min: 1, max: 200 }).map((d) => Array.from({ length: d }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n') + ' 1\n'),
    fc.integer({ min: 1, max: 200 }).map((d) => `${Array.from({ length: d }, (_, i) => `${'  '.repeat(i)}- `).join('\n')}x\n`),
    // unbalanced brackets (the lexer's flow level never returns to zero)
    fc.integer({ min: 1, max: 500 }).map((d) => `${'['.repeat(d)}\n---\na: 1\n`),
    // huge scalars
    fc.integer({ min: 1, max: big(300_000) }).map((n) => `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: ${'a'.repeat(n)} }\nspec: { ports: [{ port: 80 }] }\n`),
    fc.integer({ min: 1, max: big(100_000) }).map((n) => `k: |\n  ${'x'.repeat(n)}\n`),
    // duplicate keys, many keys
    fc.integer({ min: 2, max: big(5000) }).map((n) => `${Array.from({ length: n }, (_, i) => `k${i % (n - 1)}: ${i}`).join('\n')}\n`),
    // binary garbage and odd bytes
    fc.uint8Array({ maxLength: big(2000) }).map((b) => Buffer.from(b).toString('latin1')),
    fc.uint8Array({ maxLength: big(2000) }).map((b) => Buffer.from(b).toString('utf8')),
    fc.string({ unit: 'binary', maxLength: 300 }),
    // Characters JavaScript and YAML disagree on (line ends for /m regexes and \s vs YAML's \n,
    // \r\n, space and tab), strung with the fragments where the fast path splits and counts lines
    fc.array(fc.constantFrom('\r', '\r\n', '\u2028', '\u2029', '\u0085', '\u00a0', '\ufeff', '\v', '\f', '\u3000', '\t', '\n', ' ', '#c', 'a: 1', '- x', '---', '...', '%YAML 1.2', '"q"', '  b: 2'), { maxLength: 14 }).map((parts) => parts.join('')),
    // YAML features: directives, tags, anchors, merge keys, explicit keys, document markers
    fc.constantFrom(
      '%YAML 1.1\n---\na: !!set {x, y}\nb: !!binary aGVsbG8=\nc: 2001-12-14\n<<: {m: 1}\n',
      '%YAML 9.9\n---\na: 1\n', '%TAG ! tag:x,2000:\n---\n!foo a: 1\n', '--- !!map\n? a\n: b\n...\n',
      '\ufeffa: 1\n', 'a:\n\t- 1\n', '- - - - x\n', ': :\n', '---\n---\n---\n', '...\n...\n', '"unterminated\n', "'x\n", '|\n x\n y\n', '!!int x\n', '!!float y\n', '? [a, b]\n: c\n',
      '{"apiVersion": "weft.dev/v1alpha1", "kind": "Service", "metadata": {"name": "j"}, "spec": {"ports": [{"port": 80}]}}\n',
    ),
  );

  /** One file of apply input: a multi-document stream of valid, mutated, random and hostile documents. */
  const fileText: fc.Arbitrary<string> = fc
    .array(fc.oneof({ weight: 3, arbitrary: dataDocText }, { weight: 2, arbitrary: hostileText }), { minLength: 1, maxLength: 5 })
    .chain((docs) => fc.constantFrom('---\n', '\n---\n', '--- \n', '...\n---\n').map((sep) => docs.join(sep)));

  /** The files of one apply (names included, since errors must name them). */
  const files = fc.array(
    fc.record({ name: fc.oneof(fc.constantFrom('a.yaml', 'dir/b.yml', '-', 'c.json'), fc.string({ maxLength: 12 })), content: fileText }),
    { minLength: 1, maxLength: 3 },
  );
  return { fileText, files };
}
