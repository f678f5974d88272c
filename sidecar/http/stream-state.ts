/**
 * The first connection that fails in a sidecar's life (a client that resets, a load generator
 * closing its connections with requests in flight) used to throw away most of its optimized
 * code at once. Node's streams read the error's stack when a stream is destroyed with an error,
 * and V8 keeps an Error's stack in a field it treats as constant until a stack is first read;
 * the read makes the field mutable, and every optimized function that relied on it is
 * deoptimized (--trace-deopt: 13 functions of the HTTP/1.1 path, "code dependencies"). Measured
 * after a saturation run: about a second at 1.5-2x the CPU per request while V8 optimizes again,
 * and a third of the slow requests of the fixed-rate run that follows (docs/benchmarks.md,
 * "Fixed-rate tail"). One socket destroyed with an error at start takes that path before
 * anything is optimized.
 */
import { Socket } from 'node:net';

export function settleStreamErrorPath(): void {
  const s = new Socket();
  s.on('error', () => {});
  s.destroy(new Error('weft: a stream error at start (sidecar/http/stream-state.ts)'));
}
