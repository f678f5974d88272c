// `Expect: 100-continue` at a gateway listener, over HTTP/1.1 and HTTP/2: the proxy answers the
// interim 100 itself before the body is read (Envoy's default; the header is hop-by-hop and not
// forwarded, so no upstream would), then the body goes through and the final answer follows. A
// client that waits for the 100 before sending its body (node's http and http2 clients do, when
// told to) would otherwise wait until a timeout. Each case waits on the client's own 'continue'
// event and the response, never on a sleep.
import http from 'node:http';
import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { edgeGateway, inProcessGateway, PLAINTEXT_MESH, service, upstream, type InProcessGateway, type Upstream } from '../../../harness/sidecar.js';

const EDGE = edgeGateway([{ name: 'web', port: 8000 }], '[{ backendRefs: [{ name: store, port: 8080 }] }]');

let app: Upstream;
let gw: InProcessGateway;
const seenExpect: Array<string | undefined> = [];
beforeAll(async () => {
  app = await upstream((q, s, body) => {
    seenExpect.push(q.headers.expect);
    s.end(`got ${body.length}`);
  });
  gw = await inProcessGateway([PLAINTEXT_MESH, EDGE, service('store', [app.port])], 'default/edge');
}, 30_000);
afterAll(async () => {
  await gw?.close();
  await app?.close();
});

const BODY = Buffer.alloc(10_000, 0x61);

/** One POST that sends its body only after the 100: [whether a 100 came first, status, body]. */
function h1Post(port: number): Promise<[boolean, number, string]> {
  return new Promise((resolve, reject) => {
    let continued = false;
    const r = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/up', headers: { host: 'shop.example', expect: '100-continue', 'content-length': BODY.length } });
    r.on('continue', () => {
      continued = true;
      r.end(BODY);
    });
    r.on('response', (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve([continued, res.statusCode ?? 0, text]));
    });
    r.on('error', reject);
  });
}

function h2Post(port: number): Promise<[boolean, number, string]> {
  const c = http2.connect(`http://127.0.0.1:${port}`);
  c.on('error', () => undefined);
  return new Promise<[boolean, number, string]>((resolve, reject) => {
    let continued = false;
    const r = c.request({ ':method': 'POST', ':path': '/up', ':authority': 'shop.example', expect: '100-continue' }, { endStream: false });
    r.on('continue', () => {
      continued = true;
      r.end(BODY);
    });
    let status = 0;
    let text = '';
    r.on('response', (h) => (status = Number(h[':status'])));
    r.on('data', (d: Buffer) => (text += d.toString()));
    r.on('end', () => resolve([continued, status, text]));
    r.on('error', reject);
  }).finally(() => c.close());
}

describe('Expect: 100-continue at a gateway listener', () => {
  it.each([
    ['HTTP/1.1', h1Post],
    ['HTTP/2', h2Post],
  ] as const)('%s: an interim 100 before the body, then the final answer; the upstream is not asked to continue', async (_proto, post) => {
    const before = seenExpect.length;
    expect(await post(gw.port('web'))).toEqual([true, 200, `got ${BODY.length}`]);
    expect(seenExpect.slice(before)).toEqual([undefined]);
  });
});
