/** `weft proxy-config PROXY`: the xDS resources the control plane currently serves to one proxy. */
import { parseArgs } from 'node:util';
import { AdminClient, CLIENT_OPTIONS, CLIENT_USAGE, table, usageError, type Verb } from '../context.js';
import { OUTPUT_OPTION, outputFormat, printData } from '../output.js';
import { resolveProxy } from '../proxies.js';

const TYPES = ['listener', 'route', 'cluster', 'endpoint', 'secret'];

const usage = `Usage: weft proxy-config PROXY [--type ${TYPES.join('|')}] [-o table|wide|json|yaml]

PROXY is a node id as listed by \`weft proxy-status\`, the start of one, or a service name (NAME
or NAME.NAMESPACE) with one connected proxy; when it names several, the error lists them.
Without -o, prints one line per resource (type, name, version); -o wide adds a detail (a
listener's address, a cluster's discovery type and balancing policy, an endpoint set's size, a
route table's virtual hosts); -o json or yaml prints the full Envoy resources (proto3 JSON).
--type secret shows the proxy's workload certificate (SPIFFE ID, serial, expiry), a gateway's
serving certificates (names, serial, expiry) and the trust bundle's roots: certificate facts
only, never key material.

${CLIENT_USAGE}

Examples:
  weft proxy-config orders-1 --type cluster -o yaml
  weft proxy-config orders -o wide`;

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
      options: { ...CLIENT_OPTIONS, ...OUTPUT_OPTION, type: { type: 'string', short: 't' } },
      allowPositionals: true,
    });
    if (positionals.length !== 1) throw usageError('proxy-config needs one PROXY (a node id, its start, or a service name)');
    if (values.type && !TYPES.includes(values.type)) throw usageError(`unknown --type '${values.type}' (want ${TYPES.join(', ')})`);
    const format = outputFormat(values.output, ['table', 'wide', 'json', 'yaml']);
    const client = new AdminClient(values);
    const nodeId = await resolveProxy(client, positionals[0]!);
    if (values.type === 'secret') {
      // Certificates: what the CA issued to this proxy and the trust bundle; never key material.
      const sec = await client.request<SecretView>('GET', `/v1/proxies/${encodeURIComponent(nodeId)}/secrets`);
      if (format === 'json' || format === 'yaml') await printData(io, format, sec);
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
    const dump = await client.request<Dump>('GET', `/v1/proxies/${encodeURIComponent(nodeId)}/config${q}`);
    if (format === 'json' || format === 'yaml') await printData(io, format, dump);
    else {
      const wide = format === 'wide';
      if (nodeId !== positionals[0]) io.err(`proxy ${nodeId}`);
      const rows: string[][] = [];
      for (const t of TYPES) for (const r of dump.resources[t] ?? []) rows.push([t.toUpperCase(), r.name, r.version, ...(wide ? [detail(t, r.resource)] : [])]);
      io.out(rows.length ? table(['TYPE', 'NAME', 'VERSION', ...(wide ? ['DETAIL'] : [])], rows) : 'no resources');
    }
    return 0;
  },
};

/** One line about an Envoy resource (proto3 JSON) for -o wide; '-' for what it does not know. */
function detail(type: string, resource: unknown): string {
  const r = (resource ?? {}) as Record<string, unknown>;
  const get = (o: unknown, ...path: string[]): unknown => path.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), o);
  const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
  switch (type) {
    case 'listener': {
      const a = get(r, 'address', 'socketAddress');
      return a ? `${String(get(a, 'address'))}:${String(get(a, 'portValue'))}` : '-';
    }
    case 'cluster':
      return [r.type ?? (r.edsClusterConfig ? 'EDS' : undefined), r.lbPolicy].filter((x) => x !== undefined).join(' ') || '-';
    case 'endpoint':
      return `${list(r.endpoints).reduce<number>((n, e) => n + list(get(e, 'lbEndpoints')).length, 0)} endpoints`;
    case 'route':
      return list(r.virtualHosts).map((v) => String(get(v, 'name'))).join(', ') || '-';
    default:
      return '-';
  }
}
