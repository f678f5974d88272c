/**
 * The configuration: every stored resource (GET /v1/resources), the selected one as YAML with the
 * proxies it affects (GET /v1/resources/K/NS/N and …/proxies), and the recent applies
 * (GET /v1/history: those made since each live replica started).
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api } from './api.js';
import { ago } from './format.js';
import type { AffectedProxy, HistoryEntry, MeshResource } from './types.js';

const keyOf = (r: MeshResource) => `${r.kind}/${r.metadata.namespace}/${r.metadata.name}`;
const path = (key: string) => key.split('/').map(encodeURIComponent).join('/');

export function ConfigView({ selected }: { selected: string | undefined }) {
  const [items, setItems] = useState<MeshResource[]>();
  const [revision, setRevision] = useState<number>();
  const [history, setHistory] = useState<HistoryEntry[]>([]);
  const [filter, setFilter] = useState('');
  const [error, setError] = useState('');
  useEffect(() => {
    api<{ revision: number; items: MeshResource[] }>('/v1/resources').then((r) => {
      setItems(r.items);
      setRevision(r.revision);
    }, (e: unknown) => setError((e as Error).message));
    api<{ items: HistoryEntry[] }>('/v1/history').then((r) => setHistory(r.items), () => undefined);
  }, []);
  const shown = useMemo(() => {
    const f = filter.trim().toLowerCase();
    return (items ?? []).filter((r) => !f || keyOf(r).toLowerCase().includes(f));
  }, [items, filter]);
  const current = selected ?? (shown[0] ? keyOf(shown[0]) : undefined);
  return (
    <section class="config">
      <div class="resource-list">
        <input class="filter" placeholder="filter resources" value={filter} onInput={(e) => setFilter((e.target as HTMLInputElement).value)} />
        <p class="muted">
          {items?.length ?? 0} resources · revision {revision ?? '–'}
        </p>
        {error && <p class="error">{error}</p>}
        <ul>
          {shown.slice(0, 1000).map((r) => (
            <li key={keyOf(r)}>
              <a href={`#/config/${path(keyOf(r))}`} class={keyOf(r) === current ? 'active' : ''} data-resource={keyOf(r)}>
                <span class="kind-tag">{r.kind}</span> {r.metadata.namespace}/{r.metadata.name}
              </a>
            </li>
          ))}
        </ul>
      </div>
      <div class="resource-detail">
        {current ? <Resource key={current} rkey={current} /> : <p class="muted">No resources stored yet: apply some with <code>weft apply -f FILE</code>.</p>}
        <h3>Recent applies</h3>
        {history.length === 0 && <p class="muted">None since the control plane started.</p>}
        <ul class="history">
          {history.map((h) => (
            <li key={h.revision}>
              <b>revision {h.revision}</b> <span class="muted">{ago(h.at)}{h.replica ? ` · through ${h.replica}` : ''}</span>
              <ul>
                {h.changes.map((c) => (
                  <li key={c.key}>
                    <span class={`badge a-${c.action}`}>{c.action}</span> <a href={`#/config/${path(c.key)}`}>{c.key}</a>
                  </li>
                ))}
              </ul>
            </li>
          ))}
        </ul>
      </div>
    </section>
  );
}

function Resource({ rkey }: { rkey: string }) {
  const [yaml, setYaml] = useState<string>();
  const [proxies, setProxies] = useState<AffectedProxy[]>();
  const [error, setError] = useState('');
  useEffect(() => {
    // Another resource selected before this one's answers came: they are dropped, so the YAML
    // shown is always the heading's.
    let live = true;
    setYaml(undefined);
    setProxies(undefined);
    setError('');
    api<{ yaml: string }>(`/v1/resources/${path(rkey)}`).then((r) => live && setYaml(r.yaml), (e: unknown) => live && setError((e as Error).message));
    api<{ items: AffectedProxy[] }>(`/v1/resources/${path(rkey)}/proxies`).then((r) => live && setProxies(r.items), () => live && setProxies([]));
    return () => {
      live = false;
    };
  }, [rkey]);
  return (
    <div>
      <h2>{rkey}</h2>
      {error && <p class="error">{error}</p>}
      <pre class="yaml" data-testid="yaml">
        {yaml ?? 'Loading…'}
      </pre>
      <h3>Proxies it affects{proxies ? ` (${proxies.length})` : ''}</h3>
      {proxies && proxies.length === 0 && <p class="muted">No connected proxy.</p>}
      <table class="grid">
        <tbody>
          {proxies?.map((p) => (
            <tr key={p.nodeId}>
              <td class="mono">{p.nodeId}</td>
              <td>{p.role}</td>
              {p.replica !== undefined && <td>{p.replica}</td>}
              <td class="muted">{p.via.join(', ')}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
