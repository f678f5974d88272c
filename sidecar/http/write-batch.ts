/**
 * The HTTP/1.1 writes of one event-loop turn leave together. The first write a socket gets in a
 * turn corks it (`holdWrites`); once every I/O callback of the turn has run (libuv's check phase,
 * `setImmediate`), each socket held is uncorked and what it was given goes out in one write (or
 * writev). Order on a socket is kept (all of its writes queue behind the cork), `end()` uncorks
 * by itself, and backpressure is unchanged (`write()` still reports the queued length against the
 * high-water mark). `destroy()` drops what a socket holds: a writer that must send what it wrote
 * before closing calls `sendHeld` first (H1Downstream.abort).
 *
 * Why: under load a proxy turn handles several reads; writing each answer as soon as it is
 * ready wakes the reader (the client, the app) once per answer, and on a virtual machine a
 * wake-up of a sleeping CPU is most of a write's kernel time (an IPI through the hypervisor).
 * Held to the end of the turn, the answers of one turn wake each reader once. Measured through one
 * sidecar hop (docs/benchmarks.md): CPU per request 0.80-0.88x the build before it. A turn with
 * one request waits only for the check phase that follows its callback; the first answers of a
 * turn that handles a backlog wait for the whole turn.
 */
import type { Writable } from 'node:stream';

let held: Writable[] = [];
let spare: Writable[] = [];

/** Holds `s`'s writes until the end of this event-loop turn (a no-op when it is corked already). */
export function holdWrites(s: Writable): void {
  if (s.writableCorked !== 0) return;
  s.cork();
  if (held.push(s) === 1) setImmediate(release);
}

function release(): void {
  const list = held;
  held = spare;
  spare = list;
  for (let i = 0; i < list.length; i++) list[i]!.uncork();
  list.length = 0;
}

/**
 * Sends what `s` holds now, before the turn ends: for a writer about to `destroy()` it, which
 * would drop the held writes (the release at the turn's end then finds it uncorked: a no-op).
 */
export function sendHeld(s: Writable): void {
  while (s.writableCorked !== 0) s.uncork();
}
