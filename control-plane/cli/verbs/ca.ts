/** `weft ca show|rotate`: the mesh CA's roots and root rotation. */
import { parseArgs } from 'node:util';
import { AdminClient, CLIENT_OPTIONS, CLIENT_USAGE, table, usageError, type Verb } from '../context.js';
import { OUTPUT_OPTION, outputFormat, printData } from '../output.js';

const usage = `Usage:
  weft ca show [-o table|yaml|json]
  weft ca rotate [--no-wait]

show: the trust domain, the roots in the trust bundle (SHA-256 fingerprint, expiry, which one
signs), certificate lifetime and any rotation in progress.
rotate: replaces the root with no outage: the new root is trusted first, then signs (every sidecar
renews its certificate at once), then the old root is removed. Each step waits for the connected
sidecars to catch up. Join tokens pin the root: create new ones afterwards.

${CLIENT_USAGE}`;

interface CaView {
  trustDomain: string;
  certificateTtlSeconds: number;
  external: boolean;
  rotation: { phase: string; running: boolean; step: string };
  roots: Array<{ fingerprint: string; subject: string; notBefore: string; notAfter: string; signing: boolean }>;
  issued: number;
  refused: number;
}

function render(v: CaView): string {
  return [
    `trust domain:        ${v.trustDomain}`,
    `certificate ttl:     ${v.certificateTtlSeconds}s`,
    `CA:                  ${v.external ? 'operator-provided (--ca-cert-file)' : 'built-in'}`,
    `rotation:            ${v.rotation.running ? `running (step ${v.rotation.step})` : v.rotation.phase === 'none' ? 'none' : `paused in phase ${v.rotation.phase}`}`,
    `issued/refused:      ${v.issued}/${v.refused}`,
    '',
    table(['ROOT FINGERPRINT (SHA-256)', 'SIGNING', 'NOT AFTER', 'SUBJECT'], v.roots.map((r) => [r.fingerprint, r.signing ? 'yes' : 'no', r.notAfter, r.subject.replace(/\n/g, ', ')])),
  ].join('\n');
}

export const ca: Verb = {
  name: 'ca',
  summary: "show the mesh CA's roots, or rotate the root",
  usage,
  async run(args, io) {
    const { values, positionals } = parseArgs({ args, options: { ...CLIENT_OPTIONS, ...OUTPUT_OPTION, 'no-wait': { type: 'boolean' } }, allowPositionals: true });
    const client = new AdminClient(values);
    const sub = positionals[0];
    if (sub === 'show') {
      const format = outputFormat(values.output, ['table', 'yaml', 'json']);
      const v = await client.request<CaView>('GET', '/v1/ca');
      if (format === 'table') io.out(render(v));
      else await printData(io, format, v);
      return 0;
    }
    if (sub === 'rotate') {
      const before = await client.request<CaView>('GET', '/v1/ca');
      await client.request('POST', '/v1/ca/rotate');
      io.err(`rotating the root (was ${before.roots[0]?.fingerprint})`);
      if (values['no-wait']) return 0;
      let last = '';
      for (let i = 0; i < 3600; i++) {
        await new Promise((r) => setTimeout(r, 500));
        const v = await client.request<CaView>('GET', '/v1/ca');
        const step = v.rotation.running ? v.rotation.step : 'done';
        if (step !== last) io.err(`  step: ${step}`);
        last = step;
        if (!v.rotation.running && v.rotation.phase === 'none') {
          io.out(render(v));
          return 0;
        }
      }
      io.err('rotation still running; see `weft ca show`');
      return 1;
    }
    throw usageError(sub ? `unknown ca command '${sub}'` : 'ca needs a command: show or rotate');
  },
};
