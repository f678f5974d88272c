/**
 * Worker-thread entry for ApplyDecoder: decodes one apply body per message and answers with the
 * validated documents in chunks, so the event loop that receives them never deserializes a whole
 * large apply in one go. Holds no state between messages.
 */
import { parentPort } from 'node:worker_threads';
import { isWeftError } from '../../common/errors.js';
import type { ValidatedDocument } from '../config/index.js';
import { decodeApplyBody } from './apply-decode.js';
import { CHUNKS_AHEAD, type WorkerReply, type WorkerRequest } from './apply-decoder.js';

/** Documents per message: small enough that receiving one costs the event loop a few milliseconds. */
const CHUNK = 50;

const port = parentPort;
if (!port) throw new Error('apply-worker.ts runs as a worker thread');
port.on('message', (m: WorkerRequest) => {
  const reply = (r: WorkerReply) => port.postMessage(r);
  try {
    // Each chunk leaves as soon as it is full: the event loop receives while the rest is parsed,
    // a chunk or two at a time (see WorkerRequest.received).
    const received = new Int32Array(m.received);
    let sent = 0;
    const send = (documents: ValidatedDocument[]) => {
      for (let seen = Atomics.load(received, 0); sent - seen >= CHUNKS_AHEAD; seen = Atomics.load(received, 0)) Atomics.wait(received, 0, seen, 1000);
      reply({ id: m.id, documents });
      sent++;
    };
    let chunk: ValidatedDocument[] = [];
    const d = decodeApplyBody(m.body, m.limits, (doc) => {
      if (chunk.push(doc) < CHUNK) return;
      send(chunk);
      chunk = [];
    });
    if (chunk.length) send(chunk);
    reply({ id: m.id, done: { files: d.files, errors: d.errors, errorCount: d.errorCount } });
  } catch (e) {
    // A WeftError is the answer (bad body, too many documents); anything else is a bug, reported as INTERNAL.
    reply({ id: m.id, failed: isWeftError(e) ? e.toJSON() : { code: 'INTERNAL', message: `apply decoder: ${(e as Error)?.message ?? String(e)}` } });
  }
});
