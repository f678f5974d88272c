/**
 * Connected proxies (GET /v1/proxies, every replica's): sync state per resource type with NACK
 * reasons, the replica each is on, the configuration revision it is served, and its workload
 * certificate's expiry (GET /v1/proxies/{id}/secrets, fetched for the rows shown). Refreshed
 * every 5 s; a filter narrows by node id, service or state; at most PAGE (100) rows are drawn.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api } from './api.js';
import { ago, until } from './format.js';
import type { ProxySecrets, ProxyStatusJson, SyncState } from './types.js';

const TYPES = [
  ['cluster', 'CDS'],
  ['listener', 'LDS'],
  ['route', 'RDS'],
  ['endpoint', 'EDS'],
  ['secret', 'SDS'],
] as const;
const PAGE = 100;
const STATE_CLASS: Record<SyncState, string> = { SYNCED: 'good', STALE: 'warn', NACKED: 'bad' };

export function ProxiesView() {
  const [items, setItems] = useState<ProxyStatusJson[]>();
  const [unreachable, setUnreachable] = useState<string[]>([]);
  const [error, setError] = useState('');
  const [filter, setFilter] = useState('');
  const [certs, setCerts] = useState<Record<string, ProxySecrets | null>>({});

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      try {
        const r = await api<{ items: ProxyStatusJson[]; unreachable?: Record<string, string> }>('/v1/proxies');
        if (stopped) return;
        setItems(r.items);
        setUnreachable(Object.keys(r.unreachable ?? {}));
        setError('');
      } catch (e) {
        if (!stopped) setError((e as Error).message);
      }
      if (!stopped) timer = setTimeout(tick, 5000);
    };
    void tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, []);

  const shown = useMemo(() => {
    const f = filter.trim().toLowerCase();
    const states = (p: ProxyStatusJson) => Object.values(p.types).map((t) => t?.state ?? '');
    const match = (p: ProxyStatusJson) => !f || p.nodeId.toLowerCase().includes(f) || (p.service ?? '').includes(f) || states(p).some((s) => s.toLowerCase() === f);
    // NACKed proxies first: they are why one opens this view.
    const rank = (p: ProxyStatusJson) => (states(p).includes('NACKED') ? 0 : states(p).includes('STALE') ? 1 : 2);
    return (items ?? []).filter(match).sort((a, b) => rank(a) - rank(b) || a.nodeId.localeCompare(b.nodeId, undefined, { numeric: true }));
  }, [items, filter]);

  // Certificate expiry of the rows drawn, four requests at a time, each proxy once.
  useEffect(() => {
    const want = shown.slice(0, PAGE).map((p) => p.nodeId).filter((id) => !(id in certs));
    if (!want.length) return;
    let stopped = false;
    const found: Record<string, ProxySecrets | null> = {};
    const next = async (): Promise<void> => {
      const id = want.shift();
      if (id === undefined || stopped) return;
      found[id] = await api<ProxySecrets>(`/v1/proxies/${encodeURIComponent(id)}/secrets`).catch(() => null);
      return next();
    };
    void Promise.all([next(), next(), next(), next()]).then(() => !stopped && setCerts((c) => ({ ...c, ...found })));
    return () => {
      stopped = true;
    };
  }, [shown]);

  const nacked = (items ?? []).filter((p) => Object.values(p.types).some((t) => t?.state === 'NACKED')).length;
  return (
    <section class="page">
      <div class="toolbar">
        <input class="filter" placeholder="filter: node id, service, or SYNCED / STALE / NACKED" value={filter} onInput={(e) => setFilter((e.target as HTMLInputElement).value)} />
        <span>
          {items?.length ?? 0} proxies{nacked > 0 && <span class="badge bad">{nacked} NACKED</span>}
          {shown.length > PAGE && ` · first ${PAGE} of ${shown.length} shown`}
        </span>
      </div>
      {error && <p class="error">{error}</p>}
      {unreachable.length > 0 && <p class="warn">Replicas not answering: {unreachable.join(', ')}</p>}
      <table class="grid proxies">
        <thead>
          <tr>
            <th>Proxy</th>
            <th>Role</th>
            <th>Service</th>
            <th>Replica</th>
            <th class="num">Revision</th>
            {TYPES.map(([, label]) => (
              <th key={label}>{label}</th>
            ))}
            <th>Certificate</th>
            <th>Connected</th>
          </tr>
        </thead>
        <tbody>
          {shown.slice(0, PAGE).map((p) => {
            const nacks = TYPES.flatMap(([t, label]) => (p.types[t]?.state === 'NACKED' ? [`${label}: ${p.types[t]!.nackMessage ?? '(no message)'}`] : []));
            const cert = certs[p.nodeId]?.workloadCertificate;
            return [
              <tr key={p.nodeId} data-proxy={p.nodeId}>
                <td class="mono">{p.nodeId}</td>
                <td>{p.role}</td>
                <td>{p.service ? `${p.service}.${p.namespace}` : '–'}</td>
                <td>{p.replica ?? '–'}</td>
                <td class="num">{p.revision ?? '–'}</td>
                {TYPES.map(([t, label]) => {
                  const s = p.types[t];
                  return (
                    <td key={label}>
                      {s ? (
                        <span class={`badge ${STATE_CLASS[s.state]}`} title={`sent ${s.sentVersion ?? '–'}, acked ${s.ackedVersion ?? '–'}`}>
                          {s.state}
                        </span>
                      ) : (
                        <span class="muted">–</span>
                      )}
                    </td>
                  );
                })}
                <td title={cert ? `${cert.spiffeId}, serial ${cert.serial}, expires ${cert.notAfter}` : ''}>{cert ? `expires ${until(cert.notAfter)}` : certs[p.nodeId] === undefined ? '…' : '–'}</td>
                <td>{ago(p.connectedAt)}</td>
              </tr>,
              nacks.length > 0 && (
                <tr key={`${p.nodeId}-nack`} class="nack">
                  <td colSpan={7 + TYPES.length} data-nack={p.nodeId}>
                    {nacks.map((n) => (
                      <div key={n}>NACK {n}</div>
                    ))}
                  </td>
                </tr>
              ),
            ];
          })}
        </tbody>
      </table>
    </section>
  );
}
