/**
 * The HTTP/1.1 writes of one event-loop turn leave together while the loop is busy; while it is
 * quiet, each write leaves at once. In a busy turn, the first write a socket gets corks it
 * (`holdWrites`); once every I/O callback of the turn has run (libuv's check phase,
 * `setImmediate`), each socket held is uncorked and what it was given goes out in one write (or
 * writev). Order on a socket is kept (all of its writes queue behind the cork), `end()` uncorks
 * by itself, and backpressure is unchanged (`write()` still reports the queued length against the
 * high-water mark). `destroy()` drops what a socket holds: a writer that must send what it wrote
 * before closing calls `sendHeld` first (H1Downstream.abort). A writer that makes one message of
 * several writes (a chunk's size line, data and CRLF) corks around them itself.
 *
 * Why hold: under load a proxy turn handles several reads; writing each answer as soon as it is
 * ready wakes the reader (the client, the app) once per answer, and on a virtual machine a
 * wake-up of a sleeping CPU is most of a write's kernel time (an IPI through the hypervisor).
 * Held to the end of the turn, the answers of one turn wake each reader once. Measured through one
 * sidecar hop (docs/benchmarks.md): CPU per request 0.80-0.88x the build before it.
 *
 * Why only while busy: holding costs the first answers of a turn the time the rest of the turn
 * takes, which is what a request caught in a short burst on a quiet sidecar pays (the p99 at a
 * fixed rate), and a turn with one write gains nothing from it. So the writes per turn are counted
 * and averaged over recent turns (1/16 weight); a turn's writes are held while that average is
 * above HOLD_TURN_AT, and leave at once otherwise. While busy, every turn that writes is counted
 * (its setImmediate is the one the hold needs anyway). While quiet, one turn is sampled every
 * 8-23 writes (the interval drawn at random, so that a steady pattern of writes per turn cannot
 * keep the samples on the same write of the turn): it is counted from the write that sampled it,
 * which on average sees half of the turn's writes, so the sample counts 2n - 1 for n seen. A quiet
 * sidecar thus schedules a setImmediate (an object, two calls into C++ and one back into
 * JavaScript) for about one in 16 writes instead of one per turn.
 */
import type { Writable } from 'node:stream';

/** Average writes per turn above which a turn's writes are held to its end. */
export const HOLD_TURN_AT = 4;
const WEIGHT = 1 / 16;

let held: Writable[] = [];
let spare: Writable[] = [];
let turnHold = false;
/** A count of this turn's writes is under way (its release is scheduled). */
let counting = false;
/** holdWrites calls counted in this turn. */
let calls = 0;
/** Writes per turn, moving average. */
let perTurn = 0;
/** While quiet: writes until the next sampled turn. */
let untilSample = 0;
/** Turns counted so far. */
let counted = 0;

/** How many turns were counted so far (every turn that writes while busy; a sample of them while quiet). */
export function countedTurns(): number {
  return counted;
}

/** Whether writes are now held to the end of the turn (the loop is busy). */
export function holdingToTurnEnd(): boolean {
  return turnHold;
}

/** Called before writing to `s`: holds its writes to the end of this turn while the loop is busy (a no-op when it is corked already). */
export function holdWrites(s: Writable): void {
  if (turnHold) holdToTurnEnd(s);
  else if (counting || --untilSample <= 0) count();
}

/** Counts a write in this turn's count, starting the count (its release at the turn's end) if none is under way. */
function count(): void {
  if (!counting) {
    counting = true;
    setImmediate(release);
  }
  calls++;
}

function release(): void {
  // A sampled turn (quiet) was counted from a write in its middle.
  const n = turnHold ? calls : 2 * calls - 1;
  perTurn += (n - perTurn) * WEIGHT;
  calls = 0;
  counting = false;
  counted++;
  turnHold = perTurn > HOLD_TURN_AT;
  if (!turnHold) untilSample = 8 + ((Math.random() * 16) | 0);
  const list = held;
  held = spare;
  spare = list;
  for (let i = 0; i < list.length; i++) list[i]!.uncork();
  list.length = 0;
}

/**
 * Holds `s`'s writes to the end of this turn whether the loop is busy or quiet: for a writer that
 * knows more writes to the same socket follow within the turn (the HTTP/1.1 pool's request head,
 * whose body is written from an async iteration that, for a body already read, resumes in the
 * same turn). The head and such a body then leave as one write; a body that comes later goes in
 * writes of its own. Counted as a held write (while quiet, this turn becomes a sample).
 */
export function holdToTurnEnd(s: Writable): void {
  count();
  if (s.writableCorked === 0) {
    s.cork();
    held.push(s);
  }
}

/**
 * Sends what `s` holds now: for a writer about to `destroy()` it, which would drop the held
 * writes (the release at the turn's end then finds it uncorked: a no-op).
 */
export function sendHeld(s: Writable): void {
  while (s.writableCorked !== 0) s.uncork();
}

/**
 * One chunk of a chunked HTTP/1.1 body (size line, data, CRLF) in one write (a writev), whether
 * or not the turn's writes are held. Returns what the last `write` returned (false: wait for
 * 'drain'). For the listener's responses and the pool's request bodies alike.
 */
export function writeChunk(s: Writable, chunk: Buffer): boolean {
  s.cork();
  s.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
  s.write(chunk);
  const more = s.write('\r\n', 'latin1');
  s.uncork();
  return more;
}
