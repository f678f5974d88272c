/** `weft proxy-config PROXY`: the xDS resources the control plane currently serves to one proxy. */
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { AdminClient, CLIENT_OPTIONS, CLIENT_USAGE, table, usageError, type Verb } from '../context.js';

const TYPES = ['listener', 'route', 'cluster', 'endpoint', 'secret'];

const usage = `Usage: weft proxy-config PROXY [--type ${TYPES.join('|')}] [-o table|json|yaml]

PROXY is a node id as listed by \`weft proxy-status\`. Without -o, prints one line per resource
(type, name, version); -o json or yaml prints the full Envoy resources (proto3 JSON).
--type secret shows the proxy's workload certificate (SPIFFE ID, serial, expiry), a gateway's
serving certificates (names, serial, expiry) and the trust bundle's roots: certificate facts
only, never key material.

${CLIENT_USAGE}

Example:
  weft proxy-config orders-1 --type cluster -o yaml`;

interface SecretView {
  nodeId: string;
  workloadCertificate: { spiffeId: string; serial: string; notBefore: string; notAfter: string; issuerFingerprint: string; via: string; issuedAt: string } | null;
  trustBundle: { roots: Array<{ fingerprint: string; subject: string; notAfter: string; signing: boolean }>; version: string };
  /** A gateway's certificates for its HTTPS listeners (never the key). */
  servingCertificates?: Array<{ name: string; names: string[]; serial: string; notAfter: string; version: string }>;
}

type Dump = { nodeId: string; resources: Record<string, Array<{ name: string; version: string; resource: unknown }>> };

export const proxyConfig: Verb = {
  name: 'proxy-config',
  summary: "show the xDS resources served to a proxy",
  usage,
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      options: { ...CLIENT_OPTIONS, type: { type: 'string', short: 't' }, output: { type: 'string', short: 'o', default: 'table' } },
      allowPositionals: true,
    });
    if (positionals.length !== 1) throw usageError('proxy-config needs one PROXY id');
    if (values.type && !TYPES.includes(values.type)) throw usageError(`unknown --type '${values.type}'`);
    if (values.type === 'secret') {
      // Certificates: what the CA issued to this proxy and the trust bundle; never key material.
      const sec = await new AdminClient(values).request<SecretView>('GET', `/v1/proxies/${encodeURIComponent(positionals[0]!)}/secrets`);
      if (values.output === 'json') io.out(JSON.stringify(sec, null, 2));
      else if (values.output === 'yaml') io.out(stringify(sec).trimEnd());
      else {
        const c = sec.workloadCertificate;
        const rows: string[][] = [];
        if (c) rows.push(['default', 'workload cert', c.spiffeId, c.serial, c.notAfter, `issued ${c.issuedAt} via ${c.via}`]);
        for (const x of sec.servingCertificates ?? []) rows.push([x.name, 'serving cert', x.names.join(', '), x.serial, x.notAfter, 'HTTPS listener certificate']);
        for (const r of sec.trustBundle.roots) rows.push(['ROOTCA', r.signing ? 'root (signing)' : 'root', r.subject.replace(/\n/g, ', '), `${r.fingerprint.slice(0, 23)}…`, r.notAfter, `bundle version ${sec.trustBundle.version || '-'}`]);
        io.out(table(['NAME', 'KIND', 'SUBJECT / SAN', 'SERIAL / FINGERPRINT', 'NOT AFTER', 'NOTE'], rows));
      }
      return 0;
    }
    const q = values.type ? `?type=${values.type}` : '';
    const dump = await new AdminClient(values).request<Dump>('GET', `/v1/proxies/${encodeURIComponent(positionals[0]!)}/config${q}`);
    if (values.output === 'json') io.out(JSON.stringify(dump, null, 2));
    else if (values.output === 'yaml') io.out(stringify(dump).trimEnd());
    else {
      const rows: string[][] = [];
      for (const t of TYPES) for (const r of dump.resources[t] ?? []) rows.push([t.toUpperCase(), r.name, r.version]);
      io.out(rows.length ? table(['TYPE', 'NAME', 'VERSION'], rows) : 'no resources');
    }
    return 0;
  },
};
