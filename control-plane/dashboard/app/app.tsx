/**
 * The page: the login form until a session exists, then five tabs (Graph, Proxies, Traces,
 * Config, Explain) chosen by the URL fragment (#/traces/<id> opens a trace), so views can link to each
 * other and the back button works.
 */
import { useEffect, useState } from 'preact/hooks';
import { api, onUnauthorized } from './api.js';
import { GraphView } from './graph.js';
import { ProxiesView } from './proxies.js';
import { TracesView } from './traces.js';
import { ConfigView } from './config.js';
import { ExplainView } from './explain.js';

const TABS = [
  ['graph', 'Graph'],
  ['proxies', 'Proxies'],
  ['traces', 'Traces'],
  ['config', 'Config'],
  ['explain', 'Explain'],
] as const;

function route(): { tab: string; rest: string[] } {
  const [tab = 'graph', ...rest] = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  return { tab: TABS.some(([t]) => t === tab) ? tab : 'graph', rest };
}

export function App() {
  // Optimistic: the views load at once; the first 401 any of them gets shows the login form (one
  // round trip less than asking first).
  const [authed, setAuthed] = useState(true);
  const [where, setWhere] = useState(route());
  useEffect(() => {
    const off = onUnauthorized(() => setAuthed(false));
    const hash = () => setWhere(route());
    addEventListener('hashchange', hash);
    return () => {
      off();
      removeEventListener('hashchange', hash);
    };
  }, []);
  if (!authed) return <Login onDone={() => setAuthed(true)} />;
  const logout = async () => {
    await api('/v1/logout', { method: 'POST' }).catch(() => undefined);
    setAuthed(false);
  };
  return (
    <div class="shell">
      <header>
        <span class="brand">Weft</span>
        <nav>
          {TABS.map(([t, label]) => (
            <a key={t} href={`#/${t}`} class={where.tab === t ? 'active' : ''} data-tab={t}>
              {label}
            </a>
          ))}
        </nav>
        <button class="link" onClick={logout}>
          Log out
        </button>
      </header>
      <main>
        {where.tab === 'graph' && <GraphView />}
        {where.tab === 'proxies' && <ProxiesView />}
        {where.tab === 'traces' && <TracesView traceId={where.rest[0]} />}
        {where.tab === 'explain' && <ExplainView key={where.rest.join('/')} initial={where.rest} />}
        {where.tab === 'config' && <ConfigView selected={where.rest.length === 3 ? where.rest.join('/') : undefined} />}
      </main>
    </div>
  );
}

function Login({ onDone }: { onDone: () => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState('');
  const submit = async (e: Event) => {
    e.preventDefault();
    setError('');
    try {
      await api('/v1/login', { method: 'POST', body: { token: token.trim() } });
      onDone();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <form class="login" onSubmit={submit}>
      <h1>Weft</h1>
      <p>Log in with the control plane's admin token (the file <code>admin-token</code> in its data directory).</p>
      <input type="password" name="token" placeholder="wa_…" autocomplete="off" value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} autofocus />
      <button type="submit">Log in</button>
      {error && <p class="error">{error}</p>}
    </form>
  );
}
