/**
 * Explain: `weft explain` in the page. A form (calling service, method, URL, headers) asks
 * GET /v1/explain and shows each hop: the virtual host, every route with why it did or did not
 * match, the filters with their decisions, the split, retries and timeout, the endpoints with
 * health and the identity expected of the peer, and the outcome. The form's values are in the
 * URL fragment (#/explain/<from>/<method>/<url>/<namespace>), so an explanation can be linked to
 * (a graph edge links here).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, qs } from './api.js';
import type { Explanation, ProxyHop } from '../../../sidecar/explain/types.js';

export function ExplainView({ initial }: { initial: string[] }) {
  const [from, setFrom] = useState(initial[0] ?? '');
  const [method, setMethod] = useState(initial[1] ?? 'GET');
  const [url, setUrl] = useState(initial[2] ?? '');
  const [namespace, setNamespace] = useState(initial[3] ?? 'default');
  const [headers, setHeaders] = useState('');
  const [result, setResult] = useState<Explanation>();
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  // The latest run: an earlier one's answer arriving after it started is dropped.
  const latest = useRef(0);
  const run = async () => {
    if (!from || !url) return;
    const n = ++latest.current;
    setBusy(true);
    setError('');
    try {
      const q = new URLSearchParams(qs({ from, method, url, namespace }).slice(1));
      for (const h of headers.split('\n').map((x) => x.trim()).filter(Boolean)) q.append('header', h);
      const r = await api<Explanation>(`/v1/explain?${q}`);
      if (n !== latest.current) return;
      setResult(r);
      history.replaceState(null, '', `#/explain/${[from, method, url, namespace].map(encodeURIComponent).join('/')}`);
    } catch (e) {
      if (n !== latest.current) return;
      setResult(undefined);
      setError((e as Error).message);
    } finally {
      if (n === latest.current) setBusy(false);
    }
  };
  useEffect(() => {
    if (initial[0] && initial[2]) void run();
  }, []);
  return (
    <section class="explain">
      <form
        class="explain-form"
        onSubmit={(e) => {
          e.preventDefault();
          void run();
        }}
      >
        <label>
          from service <input name="from" value={from} placeholder="web" onInput={(e) => setFrom((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          namespace <input name="namespace" size={10} value={namespace} onInput={(e) => setNamespace((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          method{' '}
          <select name="method" value={method} onChange={(e) => setMethod((e.target as HTMLSelectElement).value)}>
            {['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'].map((m) => (
              <option key={m}>{m}</option>
            ))}
          </select>
        </label>
        <label class="grow">
          URL <input name="url" value={url} placeholder="http://orders/v1/items" onInput={(e) => setUrl((e.target as HTMLInputElement).value)} />
        </label>
        <label class="grow">
          headers (one per line) <textarea name="headers" rows={1} value={headers} placeholder="x-canary: yes" onInput={(e) => setHeaders((e.target as HTMLTextAreaElement).value)} />
        </label>
        <button type="submit" disabled={busy}>
          Explain
        </button>
      </form>
      <p class="muted">What the mesh does with this request now, computed by the sidecar's own routing and filter code on the config each proxy is served (as <code>weft explain</code>).</p>
      {error && <p class="error">{error}</p>}
      {result?.hops.map((h, i) => <Hop key={i} hop={h} n={i + 1} />)}
    </section>
  );
}

function Hop({ hop: h, n }: { hop: ProxyHop; n: number }) {
  const a = h.action;
  return (
    <div class="hop" data-hop={n}>
      <h3>
        Hop {n}: {h.service}, {h.listener} listener, {h.connected ? `proxy ${h.proxy}` : `${h.proxy} (none connected)`} <span class="muted">revision {h.revision}</span>
      </h3>
      {h.request.principal && <p>peer {h.request.principal} (mTLS)</p>}
      {h.nacks.map((x) => (
        <p key={x} class="error">
          NACK {x}
        </p>
      ))}
      {h.stoppedBefore ? (
        <p class="error">{h.stoppedBefore}</p>
      ) : (
        <>
          <p>
            virtual host <b>{h.virtualHost?.name ?? 'none'}</b> {h.virtualHost && <span class="muted">[{h.virtualHost.domains.join(', ')}]: {h.virtualHost.why}</span>}
          </p>
          <table class="routes">
            <tbody>
              {h.routes.map((r, i) => (
                <tr key={i} class={r.matched ? 'matched' : r.notTried ? 'muted' : ''}>
                  <td>{r.matched ? 'MATCH' : r.notTried ? 'later' : 'no'}</td>
                  <td class="mono">{r.name || '(unnamed)'}</td>
                  <td class="mono">{r.match}</td>
                  <td>{r.why ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {h.filters.length > 0 && (
            <ol class="filters">
              {h.filters.map((f, i) => (
                <li key={i} class={`effect-${f.effect}`} data-effect={f.effect}>
                  <span class="mono">{f.name}</span>: <b>{f.effect.toUpperCase()}</b> {f.detail}
                </li>
              ))}
            </ol>
          )}
          {a?.kind === 'forward' && (
            <>
              <p>
                upstream <code>{a.upstreamPath}</code>; timeout {a.timeoutMs ? `${a.timeoutMs} ms` : 'none'};{' '}
                {a.retry ? `up to ${a.retry.attempts} attempts on ${[...a.retry.on, ...a.retry.statusCodes.map(String)].join(', ')}` : 'no retries'}
              </p>
              {a.clusters.map((c) => (
                <div key={c.name} class="cluster">
                  <p>
                    <b class="mono">{c.name}</b> {c.percent}% · {c.known ? `${c.lbPolicy} · ${c.tls === 'plaintext' || !c.tls ? 'plaintext' : `mTLS, peer must be ${c.tls.expectedIdentities.join(' or ')}`}` : 'not in the proxy config: 503'}
                  </p>
                  <ul>
                    {(c.endpoints ?? []).map((e) => (
                      <li key={e.address} class={e.healthy ? '' : 'error'}>
                        <span class="mono">{e.address}</span> {e.healthy ? 'healthy' : `UNHEALTHY (${e.health.join(', ')})`} · weight {e.weight}
                        {e.zone ? ` · zone ${e.zone}` : ''}
                      </li>
                    ))}
                  </ul>
                </div>
              ))}
            </>
          )}
          {a?.kind === 'redirect' && (
            <p>
              redirect {a.status} {a.location}
            </p>
          )}
          {a?.kind === 'direct' && <p>answered {a.status} by the proxy</p>}
        </>
      )}
      <p class={h.refusedBy || /^40|^50/.test(h.outcome) ? 'outcome error' : 'outcome'} data-outcome>
        {h.outcome}
      </p>
    </div>
  );
}
