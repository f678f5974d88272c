/**
 * Worker-thread entry for ApplyDecoder: decodes one apply body per message and answers with the
 * validated documents in chunks, so the event loop that receives them never deserializes a whole
 * large apply in one go. Holds no state between messages.
 */
import { parentPort } from 'node:worker_threads';
import { isWeftError } from '../../common/errors.js';
import type { ValidatedDocument } from '../config/index.js';
import { decodeApplyBody } from './apply-decode.js';
import type { WorkerReply, WorkerRequest } from './apply-decoder.js';

/** Documents per message: small enough that receiving one costs the event loop a few milliseconds. */
const CHUNK = 200;

const port = parentPort;
if (!port) throw new Error('apply-worker.ts runs as a worker thread');
port.on('message', (m: WorkerRequest) => {
  const reply = (r: WorkerReply) => port.postMessage(r);
  try {
    // Each chunk leaves as soon as it is full: the event loop receives while the rest is parsed.
    let chunk: ValidatedDocument[] = [];
    const d = decodeApplyBody(m.body, m.limits, (doc) => {
      if (chunk.push(doc) < CHUNK) return;
      reply({ id: m.id, documents: chunk });
      chunk = [];
    });
    if (chunk.length) reply({ id: m.id, documents: chunk });
    reply({ id: m.id, done: { files: d.files, errors: d.errors, errorCount: d.errorCount } });
  } catch (e) {
    // A WeftError is the answer (bad body, too many documents); anything else is a bug, reported as INTERNAL.
    reply({ id: m.id, failed: isWeftError(e) ? e.toJSON() : { code: 'INTERNAL', message: `apply decoder: ${(e as Error)?.message ?? String(e)}` } });
  }
});
