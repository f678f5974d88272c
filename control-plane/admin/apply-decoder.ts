/**
 * Runs decodeApplyBody off the event loop, in worker threads, so a large or hostile apply never
 * stalls xDS serving: the event loop only copies the body over and receives the validated
 * documents in small chunks. Each worker has a heap limit and each decode a time limit, so an
 * input that defeats the parse limits costs one worker, never the control plane. One idle worker
 * is kept for the next apply; at most MAX_WORKERS decode at once, the others wait.
 */
import { Worker } from 'node:worker_threads';
import { WeftError, type ErrorCode, type FieldError } from '../../common/errors.js';
import { PARSE_LIMITS, type ParseLimits, type ValidatedDocument } from '../config/index.js';
import { decodeApplyBody, type DecodedApply } from './apply-decode.js';

export interface WorkerRequest {
  id: number;
  body: Uint8Array;
  limits: ParseLimits;
  /**
   * One Int32: the chunks of documents the event loop has taken in. The worker stays at most
   * CHUNKS_AHEAD chunks ahead of it: a MessagePort hands over in one event-loop task every
   * message queued when it wakes (and what arrives meanwhile, up to 1,000), so a worker far
   * ahead would stall the loop for all of them.
   */
  received: SharedArrayBuffer;
}

/** Chunks of documents a worker may post that the event loop has not taken in yet. */
export const CHUNKS_AHEAD = 2;

export type WorkerReply =
  | { id: number; documents: ValidatedDocument[] }
  | { id: number; done: { files: string[]; errors: FieldError[]; errorCount: number } }
  | { id: number; failed: { code: ErrorCode; message: string; details?: readonly FieldError[] } };

export interface ApplyDecoderOptions {
  limits?: ParseLimits;
  /** A decode taking longer is stopped (its worker terminated) and the apply refused with 413. */
  timeoutMs?: number;
  /** Heap of one worker; an apply needing more is refused with 413. */
  maxHeapMb?: number;
}

const MAX_WORKERS = 2;
/** The compiled worker; absent when these sources run under a TypeScript test runner, which then decodes in-process. */
const WORKER_URL = import.meta.url.endsWith('.ts') ? undefined : new URL('./apply-worker.js', import.meta.url);

interface Job {
  id: number;
  documents: ValidatedDocument[];
  received: Int32Array;
  resolve: (d: DecodedApply) => void;
  reject: (e: WeftError) => void;
}

interface Slot {
  worker: Worker;
  job?: Job;
}

export class ApplyDecoder {
  readonly #limits: ParseLimits;
  readonly #timeoutMs: number;
  readonly #maxHeapMb: number;
  #idle: Slot | undefined;
  #running = 0;
  readonly #waiting: Array<() => void> = [];
  readonly #slots = new Set<Slot>();
  #seq = 0;
  #closed = false;

  constructor(opts: ApplyDecoderOptions = {}) {
    this.#limits = opts.limits ?? PARSE_LIMITS;
    this.#timeoutMs = opts.timeoutMs ?? 60_000;
    this.#maxHeapMb = opts.maxHeapMb ?? 1024;
  }

  /** Decodes an apply body: resolves with the documents and field errors, rejects with WeftError. */
  async decode(body: Uint8Array): Promise<DecodedApply> {
    if (!WORKER_URL) return decodeApplyBody(body, this.#limits);
    if (this.#closed) throw new WeftError('INTERNAL', 'the apply decoder is closed');
    if (this.#running >= MAX_WORKERS) await new Promise<void>((r) => this.#waiting.push(r));
    this.#running++;
    try {
      return await this.#run(body);
    } finally {
      this.#running--;
      this.#waiting.shift()?.();
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#idle = undefined;
    await Promise.all([...this.#slots].map((s) => s.worker.terminate()));
  }

  #run(body: Uint8Array): Promise<DecodedApply> {
    const slot = this.#idle ?? this.#spawn();
    this.#idle = undefined;
    return new Promise<DecodedApply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#fail(slot, new WeftError('REQUEST_TOO_LARGE', `the apply took more than ${this.#timeoutMs / 1000} s to parse and validate (limit ${this.#timeoutMs / 1000} s); split it into several applies`));
      }, this.#timeoutMs);
      const received = new SharedArrayBuffer(4);
      slot.job = {
        id: ++this.#seq,
        documents: [],
        received: new Int32Array(received),
        resolve: (d) => {
          clearTimeout(timer);
          resolve(d);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const req: WorkerRequest = { id: slot.job.id, body, limits: this.#limits, received };
      slot.worker.postMessage(req);
    });
  }

  #spawn(): Slot {
    const worker = new Worker(WORKER_URL!, { resourceLimits: { maxOldGenerationSizeMb: this.#maxHeapMb } });
    worker.unref();
    const slot: Slot = { worker };
    this.#slots.add(slot);
    worker.on('message', (r: WorkerReply) => {
      const job = slot.job;
      if (!job || r.id !== job.id) return;
      if ('documents' in r) {
        for (const d of r.documents) job.documents.push(d);
        // Taken in on the next turn of the loop, not now: the port goes on handing over whatever
        // arrives while it drains, so an immediate answer could keep this task going.
        setImmediate(() => {
          Atomics.add(job.received, 0, 1);
          Atomics.notify(job.received, 0);
        });
        return;
      }
      slot.job = undefined;
      if ('done' in r) {
        if (!this.#closed && !this.#idle) this.#idle = slot;
        else void this.#retire(slot);
        job.resolve({ files: r.done.files, documents: job.documents, errors: r.done.errors, errorCount: r.done.errorCount });
      } else {
        if (!this.#closed && !this.#idle) this.#idle = slot;
        else void this.#retire(slot);
        job.reject(new WeftError(r.failed.code, r.failed.message, { details: r.failed.details ?? [] }));
      }
    });
    worker.on('error', (e: Error & { code?: string }) => {
      this.#fail(slot, e.code === 'ERR_WORKER_OUT_OF_MEMORY'
        ? new WeftError('REQUEST_TOO_LARGE', `the apply needs more than ${this.#maxHeapMb} MiB to parse and validate (limit ${this.#maxHeapMb} MiB); split it into several applies`)
        : new WeftError('INTERNAL', `apply decoder failed: ${e.message}`, { cause: e }));
    });
    worker.on('exit', () => this.#fail(slot, new WeftError('INTERNAL', 'apply decoder exited')));
    return slot;
  }

  /** Ends the slot's job with `e` (if still running) and stops its worker. */
  #fail(slot: Slot, e: WeftError): void {
    const job = slot.job;
    slot.job = undefined;
    if (this.#idle === slot) this.#idle = undefined;
    void this.#retire(slot);
    job?.reject(e);
  }

  async #retire(slot: Slot): Promise<void> {
    if (!this.#slots.delete(slot)) return;
    await slot.worker.terminate();
  }
}
