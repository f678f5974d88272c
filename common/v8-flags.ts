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
