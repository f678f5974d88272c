/**
 * WEFT_SIDECAR_V8_FLAGS: V8 flags `weft sidecar` sets in its own, already running, V8 (Node 20
 * cannot re-execute itself with new flags). Only flags V8 reads after start-up do anything there:
 * measured, `--max-semi-space-size` and `--max-old-space-size` set this way change nothing (the
 * heap was sized when the isolate was made), and `--single-threaded-gc` aborts V8 on the spot
 * ("Check failed: concurrent_marking_handle_"). So the variable takes the flags below and refuses
 * any other, naming NODE_OPTIONS and node's command line, where flags apply before V8 starts.
 */
const RUNTIME_FLAGS: ReadonlyArray<{ name: string; value?: RegExp }> = [
  // How much the young generation grows after a scavenge (1: it stays at its start size).
  { name: 'semi-space-growth-factor', value: /^\d+$/ },
  { name: 'optimize-for-size' },
  { name: 'no-optimize-for-size' },
  // V8's optimizing compiler (JavaScript falls back to the interpreter and Sparkplug without it).
  { name: 'turbofan' },
  { name: 'no-turbofan' },
  // How many full GCs without a call before V8 drops a function's bytecode (compiling it again if called).
  { name: 'bytecode-old-age', value: /^\d+$/ },
  // How long after the heap grew V8's memory reducer waits before its first compacting GC (ms).
  { name: 'gc-memory-reducer-start-delay-ms', value: /^\d+$/ },
  // Diagnostics: one line per GC on stdout.
  { name: 'trace-gc' },
];

/** The flags of WEFT_SIDECAR_V8_FLAGS (space separated), or why they cannot be applied. */
export function runtimeV8Flags(value: string): { flags: string[]; error?: undefined } | { flags?: undefined; error: string } {
  const flags: string[] = [];
  for (const f of value.split(/\s+/).filter(Boolean)) {
    const m = /^--([a-z0-9_-]+)(?:=(.*))?$/.exec(f);
    const name = m?.[1]!.replaceAll('_', '-');
    const known = RUNTIME_FLAGS.find((k) => k.name === name);
    if (!m || !known) {
      return {
        error: `WEFT_SIDECAR_V8_FLAGS: ${f} cannot be set in a running V8 (it would do nothing, or abort V8); give it to node before it starts: NODE_OPTIONS='${f}' weft sidecar ..., or for a flag NODE_OPTIONS does not take, node ${f} "$(command -v weft)" sidecar ... (WEFT_SIDECAR_V8_FLAGS takes ${RUNTIME_FLAGS.map((k) => `--${k.name}${k.value ? '=N' : ''}`).join(', ')})`,
      };
    }
    if (known.value ? m[2] === undefined || !known.value.test(m[2]) : m[2] !== undefined) {
      return { error: `WEFT_SIDECAR_V8_FLAGS: ${f}: --${known.name} ${known.value ? 'takes a whole number (--' + known.name + '=1)' : 'takes no value'}` };
    }
    flags.push(`--${name}${m[2] === undefined ? '' : `=${m[2]}`}`);
  }
  return { flags };
}

/**
 * What `weft sidecar` holds back in V8 until it is busy (sidecar/telemetry/busy-policy.ts): each
 * part's flag from start-up on (`idle`), the flag it adds once the sidecar is ready (`ready`, if
 * any), and the V8 defaults it gets back the first time traffic comes (`busy`). Start-up (loading
 * the bundle, building the Envoy descriptors, decoding the first xDS snapshot) is exactly what
 * makes V8 grow its young generation and run its optimizing compiler, for code that then runs
 * once: about 30 MiB (young generation) and 7 MiB (the compiler's code pages and output) of an
 * idle sidecar's RSS, measured (docs/sidecar.md#memory-and-cpu). The third part goes the other
 * way: idle, V8 drops unused bytecode sooner than its default; the fourth has V8 give start-up's
 * garbage back sooner.
 * `own` matches an operator's flags for the same part in NODE_OPTIONS or on node's command line,
 * which leave that part alone.
 */
export const HELD_BACK: ReadonlyArray<{ idle: string; ready?: string; busy: string; own: RegExp }> = [
  // The young generation's growth.
  {
    idle: '--semi-space-growth-factor=1',
    busy: '--semi-space-growth-factor=2',
    own: /optimize[-_]for[-_]size|semi[-_]space/,
  },
  // The optimizing compiler.
  {
    idle: '--no-turbofan',
    busy: '--turbofan',
    own: /turbofan|max[-_]opt\b|jitless|maglev|(?:^|\s)--(?:no[-_])?opt(?:\s|$)/,
  },
  // Bytecode of functions that stopped running. V8 drops it after 5 full GCs without a call (and
  // compiles the function again if it is called); an idle sidecar has few full GCs, so start-up's
  // and the last config push's code would stay (about 0.9 MiB of heap at idle, measured). Idle, it
  // goes at the first full GC without a call; busy, V8's default (5) again.
  {
    idle: '--bytecode-old-age=1',
    busy: '--bytecode-old-age=5',
    own: /bytecode[-_]old[-_]age|flush[-_]bytecode/,
  },
  // V8's memory reducer: the compacting GCs that give an idle process's garbage and spare heap
  // pages back. V8 arms it when the old generation first grows, before any full GC (start-up
  // does, at about 0.15 s), runs it that start delay later (8 s), and then only if allocation over
  // the last 5 s was low or V8 optimizes for memory (else it waits 8 s more); so every sidecar held
  // start-up's garbage (about 3.5 MiB of RSS, measured) for its first 9 s. Idle: a 1.5 s delay,
  // and from `ready` on V8 optimizes for memory, so the reducer's GCs run at about 1.7 s whatever
  // start-up allocated. Not from start-up on: optimizing for memory makes the heap grow less, so
  // start-up would run a full GC of its own, and after a full GC V8 11 waits 8 s (a constant, not
  // the flag) before the reducer's (seen: 3 s after ready, 56.7 MiB against 53.4).
  {
    idle: '--gc-memory-reducer-start-delay-ms=1500',
    ready: '--optimize-for-size',
    busy: '--gc-memory-reducer-start-delay-ms=8000 --no-optimize-for-size',
    own: /memory[-_]reducer|optimize[-_]for[-_]size/,
  },
];
