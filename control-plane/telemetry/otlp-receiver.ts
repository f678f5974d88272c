/**
 * The control plane's embedded OTLP/HTTP trace receiver: POST /v1/traces with an
 * ExportTraceServiceRequest (application/x-protobuf, optionally gzip), as every OpenTelemetry SDK
 * and collector sends it. Spans go into the TraceStore; `weft trace list|show` read them through the
 * admin API. A body that is not OTLP protobuf gets a 4xx with the reason; nothing is half-stored.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { create, toBinary } from '@bufbuild/protobuf';
import { strictFromBinary } from '../../common/wire-strict.js';
import { silentLogger, type Logger } from '../../common/log.js';
import {
  ExportTraceServiceRequestSchema,
  ExportTraceServiceResponseSchema,
} from '../../proto/gen/opentelemetry/proto/collector/trace/v1/trace_service_pb.js';
import { spansOf, type TraceStore } from './trace-store.js';

const MAX_BODY = 16 * 1024 * 1024;

export class OtlpReceiver {
  readonly #server: Server;
  readonly #store: TraceStore;
  readonly #log: Logger;
  readonly stats = { requests: 0, rejectedRequests: 0 };

  constructor(store: TraceStore, logger: Logger = silentLogger) {
    this.#store = store;
    this.#log = logger;
    this.#server = createServer({ requestTimeout: 30_000 }, (req, res) => {
      this.#handle(req, res).catch((e: unknown) => {
        this.#log.error({ err: e }, 'OTLP request failed');
        if (!res.headersSent) send(res, 500, 'internal error');
      });
    });
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => resolve((this.#server.address() as AddressInfo).port));
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/v1/traces') return send(res, 404, 'OTLP/HTTP receiver: only POST /v1/traces (traces) is served here');
    if (req.method !== 'POST') return send(res, 405, 'use POST');
    const reject = (status: number, why: string) => {
      this.stats.rejectedRequests++;
      send(res, status, why);
    };
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/x-protobuf') return reject(415, `content-type '${type || 'none'}' is not supported: send OTLP protobuf (application/x-protobuf)`);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > MAX_BODY) return reject(413, `request body over ${MAX_BODY} bytes`);
      chunks.push(c as Buffer);
    }
    let body = Buffer.concat(chunks);
    const enc = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (enc === 'gzip') {
      try {
        body = gunzipSync(body, { maxOutputLength: 4 * MAX_BODY });
      } catch (e) {
        return reject(400, `gzip body does not decompress: ${(e as Error).message}`);
      }
    } else if (enc !== 'identity') return reject(415, `content-encoding '${enc}' is not supported (gzip or none)`);
    let parsed;
    try {
      parsed = strictFromBinary(ExportTraceServiceRequestSchema, body);
    } catch (e) {
      return reject(400, `not an OTLP ExportTraceServiceRequest: ${(e as Error).message}`);
    }
    this.stats.requests++;
    const { spans, rejected } = spansOf(parsed);
    this.#store.add(spans);
    this.#store.stats.spansRejected += rejected;
    const out = create(ExportTraceServiceResponseSchema, rejected ? { partialSuccess: { rejectedSpans: BigInt(rejected), errorMessage: 'spans need a 16-byte trace_id and an 8-byte span_id' } } : {});
    const bytes = toBinary(ExportTraceServiceResponseSchema, out);
    res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': bytes.length });
    res.end(bytes);
  }
}

function send(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) + 1 });
  res.end(`${text}\n`);
}
