// The floor of a Node HTTP/1.1 proxy built the way Weft's is: Node's llhttp binding reading each
// socket in C++ (parser.consume, as node:http and Weft's listener and upstream pool do), a LIFO
// pool of keep-alive upstream connections, the answer's head and body in one write. Nothing else:
// no routing, no headers added or checked, no timers, metrics, request ids or tracing. Used by
// bench/weft-tail.sh (TAIL_TARGETS=node-floor) to tell what a request costs in Node's runtime at a
// given rate from what it costs in Weft's own code. A benchmark peer only, not a proxy to run:
// it forwards what the bench upstream answers (fixed-length bodies); a malformed message, an
// upstream error or a response it cannot frame closes the client connection.
//   node bench/node-floor-proxy.mjs PORT UPSTREAM_PORT
import net from 'node:net';
import { createRequire } from 'node:module';

const { HTTPParser, methods } = createRequire(import.meta.url)('_http_common');
const [port, upPort] = process.argv.slice(2).map(Number);
if (!(port >= 0) || !(upPort > 0)) {
  console.error('usage: node-floor-proxy.mjs PORT UPSTREAM_PORT');
  process.exit(2);
}
const resource = Object.freeze({});
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-connection']);
/** A response's own framing goes too: the floor sends the body it read with its length. */
const RESPONSE_SKIP = new Set([...HOP, 'content-length']);
/** @type {Upstream[]} */
const idle = [];

function newParser(type) {
  const p = new HTTPParser();
  p.initialize(type, resource, 0, HTTPParser.kLenientNone);
  p[HTTPParser.kOnMessageBegin] = null;
  return p;
}

/** Header lines of a raw [name, value, ...] list without the names in `skip`. */
function lines(raw, skip) {
  let h = '';
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i];
    if (n.length <= 16 && skip.has(n.toLowerCase())) continue;
    h += `${n}: ${raw[i + 1]}\r\n`;
  }
  return h;
}

class Upstream {
  constructor() {
    this.client = null;
    this.pending = '';
    this.ready = false;
    this.head = '';
    this.body = null;
    const s = (this.socket = net.connect(upPort, '127.0.0.1'));
    s.setNoDelay(true);
    const p = newParser(HTTPParser.RESPONSE);
    p[HTTPParser.kOnHeadersComplete] = (_maj, _min, raw, _m, _u, status, message) => {
      this.head = `HTTP/1.1 ${status} ${message}\r\n${lines(raw, RESPONSE_SKIP)}`;
    };
    p[HTTPParser.kOnBody] = (b) => {
      this.body = this.body === null ? Buffer.from(b) : Buffer.concat([this.body, b]);
    };
    p[HTTPParser.kOnMessageComplete] = () => this.#answer();
    p[HTTPParser.kOnExecute] = (r) => {
      if (r instanceof Error) this.#drop();
    };
    s.once('connect', () => {
      p.consume(s._handle);
      this.ready = true;
      if (this.pending !== '') s.write(this.pending, 'latin1');
      this.pending = '';
    });
    s.on('error', () => this.#drop());
    s.on('close', () => this.#drop());
  }

  /** @param {net.Socket} client @param {string} head */
  send(client, head) {
    this.client = client;
    if (this.ready) this.socket.write(head, 'latin1');
    else this.pending = head;
  }

  #answer() {
    const c = this.client;
    const body = this.body;
    this.client = null;
    this.body = null;
    if (c === null || c.destroyed) return;
    const head = `${this.head}content-length: ${body === null ? 0 : body.length}\r\n\r\n`;
    if (body === null) c.write(head, 'latin1');
    else {
      c.cork();
      c.write(head, 'latin1');
      c.write(body);
      c.uncork();
    }
    idle.push(this);
  }

  #drop() {
    const i = idle.indexOf(this);
    if (i >= 0) idle.splice(i, 1);
    this.socket.destroy();
    if (this.client !== null) this.client.destroy();
    this.client = null;
  }
}

const server = net.createServer((s) => {
  s.setNoDelay(true);
  s.on('error', () => s.destroy());
  const p = newParser(HTTPParser.REQUEST);
  let head = '';
  p[HTTPParser.kOnHeadersComplete] = (_maj, _min, raw, method, url) => {
    head = `${methods[method]} ${url} HTTP/1.1\r\n${lines(raw, HOP)}\r\n`;
  };
  // Requests with a body are not forwarded (the tail load sends none): the connection closes.
  p[HTTPParser.kOnBody] = () => s.destroy();
  p[HTTPParser.kOnMessageComplete] = () => (idle.pop() ?? new Upstream()).send(s, head);
  p[HTTPParser.kOnExecute] = (r) => {
    if (r instanceof Error) s.destroy();
  };
  p.consume(s._handle);
  s.on('close', () => p.close());
});
server.on('error', (e) => {
  console.error(`node-floor-proxy: ${e.message}`);
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => console.log(`node-floor-proxy listening on ${server.address().port}`));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
