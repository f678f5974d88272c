/**
 * The service graph: services as nodes (inbound golden metrics), calls as edges (outbound
 * reports of the caller's sidecars), coloured by success rate, refreshed every 5 s. Laid out by
 * cytoscape (breadthfirst for small meshes, concentric rings by traffic for large ones) only when the set of nodes or
 * edges changes, so a refresh moves nothing. Clicking an edge or node lists its failing and slow
 * traces, linked to the trace view.
 *
 * `window.weftDashboard` exposes the drawn elements and their on-screen positions for tests.
 */
import cytoscape, { type Core, type ElementDefinition } from 'cytoscape';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, qs } from './api.js';
import { health, HEALTH_COLOUR, ms, pct, rps, shortName } from './format.js';
import type { EdgeRow, Graph, GraphNode, Totals, TraceSummary } from './types.js';

const REFRESH_MS = 5000;
const WINDOW_MS = 60_000;

declare global {
  interface Window {
    weftDashboard?: {
      /** The graph's elements as drawn (data of each node and edge). */
      elements(): Array<{ group: string; data: Record<string, unknown> }>;
      /** Page coordinates of a node (its centre) or an edge (its midpoint), for a click. */
      point(id: string): { x: number; y: number } | undefined;
      /** Graph answers drawn so far. */
      refreshes: number;
    };
  }
}

type Selection = { kind: 'edge'; edge: EdgeRow } | { kind: 'node'; node: GraphNode };

const edgeId = (e: EdgeRow) => `${e.source}->${e.destination}`;

function metricLines(m: Totals | null): string {
  if (!m) return 'no inbound traffic';
  return `${rps(m.rps)} · ${pct(m.successRate)}\np50 ${ms(m.p50Ms)} · p99 ${ms(m.p99Ms)}`;
}

const nodeLabel = (n: GraphNode) => `${n.service}${n.namespace && n.namespace !== 'default' ? `.${n.namespace}` : ''}\n${metricLines(n.metrics)}`;

/**
 * A node's box from its label (11 px text): computed here rather than with cytoscape's
 * `width: label`, which measures every label's text and made laying out 200 services take a second.
 */
function boxOf(label: string): { w: number; h: number } {
  const lines = label.split('\n');
  return { w: Math.max(...lines.map((l) => l.length)) * 6.4 + 20, h: lines.length * 14 + 16 };
}

/** Past this many services, edges carry no label (their figures are in the panel a click opens). */
const LABELLED_EDGES_UP_TO = 40;

function elementsOf(g: Graph): ElementDefinition[] {
  const edgeLabels = g.nodes.length <= LABELLED_EDGES_UP_TO;
  const nodes = g.nodes.map((n) => ({
    group: 'nodes' as const,
    data: { id: n.id, label: nodeLabel(n), ...boxOf(nodeLabel(n)), colour: HEALTH_COLOUR[health(n.metrics?.successRate)], health: health(n.metrics?.successRate), rps: n.metrics?.rps ?? 0, successRate: n.metrics?.successRate ?? null },
  }));
  const edges = g.edges.map((e) => ({
    group: 'edges' as const,
    classes: edgeLabels ? '' : 'many',
    data: {
      id: edgeId(e),
      source: e.source,
      target: e.destination,
      label: edgeLabels ? `${rps(e.rps)} · ${pct(e.successRate)} · p50 ${ms(e.p50Ms)} p99 ${ms(e.p99Ms)}` : '',
      colour: HEALTH_COLOUR[health(e.successRate)],
      health: health(e.successRate),
      width: 2 + Math.min(6, Math.log2(1 + e.rps)),
      rps: e.rps,
      successRate: e.successRate,
      errors: e.errors,
      requests: e.requests,
    },
  }));
  return [...nodes, ...edges];
}

const STYLE: cytoscape.StylesheetJson = [
  {
    selector: 'node',
    style: {
      shape: 'round-rectangle',
      'background-color': 'data(colour)',
      label: 'data(label)',
      color: '#fff',
      'font-size': 11,
      'text-wrap': 'wrap',
      'text-valign': 'center',
      'text-halign': 'center',
      width: 'data(w)',
      height: 'data(h)',
      'border-width': 0,
      // Zoomed out on a large mesh, labels too small to read are not drawn (drawing them is most
      // of the cost); zoom in to read them.
      'min-zoomed-font-size': 7,
    },
  },
  { selector: 'node:selected', style: { 'border-width': 3, 'border-color': '#1f2a37' } },
  {
    selector: 'edge',
    style: {
      width: 'data(width)',
      'curve-style': 'bezier',
      'line-color': 'data(colour)',
      'target-arrow-color': 'data(colour)',
      'target-arrow-shape': 'triangle',
      label: 'data(label)',
      'font-size': 10,
      color: '#1f2a37',
      'text-background-color': '#ffffff',
      'text-background-opacity': 0.9,
      'text-background-padding': '2px',
      'min-zoomed-font-size': 7,
    },
  },
  { selector: 'edge:selected', style: { 'line-style': 'dashed' } },
  // Large meshes: straight edges (bezier curves for hundreds of edges cost most of the drawing).
  { selector: 'edge.many', style: { 'curve-style': 'straight', 'arrow-scale': 0.8 } },
];

export function GraphView() {
  const box = useRef<HTMLDivElement>(null);
  const cyRef = useRef<Core | undefined>(undefined);
  const [graph, setGraph] = useState<Graph>();
  const [error, setError] = useState('');
  const [selected, setSelected] = useState<Selection>();

  useEffect(() => {
    const cy = cytoscape({ container: box.current!, style: STYLE, wheelSensitivity: 0.3, minZoom: 0.02, maxZoom: 3 });
    cyRef.current = cy;
    let refreshes = 0;
    window.weftDashboard = {
      elements: () => cy.elements().map((e) => ({ group: e.group(), data: e.data() as Record<string, unknown> })),
      point: (id) => {
        const el = cy.getElementById(id);
        if (el.empty()) return undefined;
        const p = el.isEdge() ? el.renderedMidpoint() : (el as cytoscape.NodeSingular).renderedPosition();
        const r = box.current!.getBoundingClientRect();
        return { x: r.left + p.x, y: r.top + p.y };
      },
      get refreshes() {
        return refreshes;
      },
    };
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      try {
        const g = await api<Graph>(`/v1/graph${qs({ windowMs: WINDOW_MS })}`);
        if (stopped) return;
        draw(cy, g);
        refreshes++;
        setGraph(g);
        setError('');
      } catch (e) {
        if (!stopped) setError((e as Error).message);
      }
      if (!stopped) timer = setTimeout(tick, REFRESH_MS);
    };
    void tick();
    // The canvas follows its box (the selection panel opening, a window resize).
    const resized = new ResizeObserver(() => {
      cy.resize();
      cy.fit(cy.nodes(), 30);
    });
    resized.observe(box.current!);
    cy.on('tap', 'edge', (ev) => setSelected({ kind: 'edge', edge: ev.target.data('row') as EdgeRow }));
    cy.on('tap', 'node', (ev) => setSelected({ kind: 'node', node: ev.target.data('row') as GraphNode }));
    cy.on('tap', (ev) => ev.target === cy && setSelected(undefined));
    return () => {
      stopped = true;
      clearTimeout(timer);
      resized.disconnect();
      cy.destroy();
      delete window.weftDashboard;
    };
  }, []);

  // The selection follows the refreshed figures.
  const current: Selection | undefined =
    selected?.kind === 'edge'
      ? { kind: 'edge', edge: graph?.edges.find((e) => edgeId(e) === edgeId(selected.edge)) ?? selected.edge }
      : selected?.kind === 'node'
        ? { kind: 'node', node: graph?.nodes.find((n) => n.id === selected.node.id) ?? selected.node }
        : undefined;

  return (
    <div class="graph-view">
      <div class="graph-main">
        <div class="graph-bar">
          <span>
            Last {WINDOW_MS / 1000} s, refreshed every {REFRESH_MS / 1000} s · {graph?.nodes.length ?? 0} services, {graph?.edges.length ?? 0} edges
          </span>
          <span class="legend">
            <i style={{ background: HEALTH_COLOUR.good }} /> ≥ 99 % <i style={{ background: HEALTH_COLOUR.warn }} /> ≥ 95 % <i style={{ background: HEALTH_COLOUR.bad }} /> below <i style={{ background: HEALTH_COLOUR.idle }} /> no traffic
          </span>
          <button class="link" onClick={() => cyRef.current?.fit(cyRef.current.nodes(), 30)}>
            Fit
          </button>
        </div>
        {error && <p class="error">{error}</p>}
        {graph && graph.unreachable && <p class="warn">Replicas not answering: {Object.keys(graph.unreachable).join(', ')}</p>}
        <div class="graph-canvas" ref={box} />
      </div>
      {current && <SelectionPanel sel={current} onClose={() => setSelected(undefined)} />}
    </div>
  );
}

/** Updates the drawn graph in place; lays it out again only when nodes or edges came or went. */
function draw(cy: Core, g: Graph): void {
  const defs = elementsOf(g);
  const rows = new Map<string, unknown>([...g.nodes.map((n) => [n.id, n] as const), ...g.edges.map((e) => [edgeId(e), e] as const)]);
  const want = new Set(defs.map((d) => d.data.id!));
  let changed = false;
  if (cy.elements().empty()) {
    // The first draw: every element in one add (one collection, one style pass), not one by one.
    cy.add(defs.map((d) => ({ group: d.group!, data: { ...d.data, row: rows.get(d.data.id!) }, ...(d.classes ? { classes: d.classes } : {}) })));
    changed = defs.length > 0;
  } else cy.batch(() => {
    cy.elements().forEach((el) => {
      if (!want.has(el.id())) {
        cy.remove(el);
        changed = true;
      }
    });
    for (const d of defs) {
      const data = { ...d.data, row: rows.get(d.data.id!) };
      const el = cy.getElementById(d.data.id!);
      if (el.nonempty()) el.data(data);
      else {
        cy.add({ group: d.group!, data, ...(d.classes ? { classes: d.classes } : {}) });
        changed = true;
      }
    }
  });
  if (changed) {
    // Small meshes: callers above callees. Large ones: rings by traffic, busiest in the middle
    // (linear time; a force-directed layout of 200 services took seconds on a loaded machine).
    // Fitted to the nodes alone: the bounds of every edge label cost more than the layout.
    const small = g.nodes.length <= LABELLED_EDGES_UP_TO;
    cy.layout(
      small
        ? { name: 'breadthfirst', directed: true, spacingFactor: 1.3, animate: false, fit: false }
        : { name: 'concentric', concentric: (n: cytoscape.NodeSingular) => Number(n.data('rps')) + n.degree(false), levelWidth: () => Math.max(1, g.nodes.length / 8), minNodeSpacing: 20, animate: false, fit: false },
    ).run();
    cy.fit(cy.nodes(), 30);
  }
}

function SelectionPanel({ sel, onClose }: { sel: Selection; onClose: () => void }) {
  const [traces, setTraces] = useState<TraceSummary[]>();
  const [error, setError] = useState('');
  const source = sel.kind === 'edge' ? shortName(sel.edge.source) : undefined;
  const target = sel.kind === 'edge' ? shortName(sel.edge.destination) : shortName(sel.node.id);
  const m: Totals | null = sel.kind === 'edge' ? sel.edge : sel.node.metrics;
  const slowMs = m?.p99Ms ?? undefined;
  const key = sel.kind === 'edge' ? edgeId(sel.edge) : sel.node.id;
  useEffect(() => {
    setTraces(undefined);
    // Failing traces through the destination, then slow ones (at or over its p99); for an edge,
    // only those the source took part in.
    Promise.all([
      api<{ items: TraceSummary[] }>(`/v1/traces${qs({ service: target, errors: 1, limit: 20 })}`),
      api<{ items: TraceSummary[] }>(`/v1/traces${qs({ service: target, minDurationMs: slowMs, limit: 20 })}`),
    ]).then(
      ([failing, slow]) => {
        const seen = new Set<string>();
        const all = [...failing.items, ...slow.items.sort((a, b) => b.durationMs - a.durationMs)].filter((t) => !seen.has(t.traceId) && seen.add(t.traceId) && (!source || t.services.includes(source)));
        setTraces(all.slice(0, 20));
      },
      (e: unknown) => setError((e as Error).message),
    );
  }, [key]);
  return (
    <aside class="panel" data-testid="selection">
      <button class="close link" onClick={onClose}>
        ×
      </button>
      <h2>{sel.kind === 'edge' ? `${shortName(sel.edge.source)} → ${shortName(sel.edge.destination)}` : sel.node.id}</h2>
      {m ? (
        <dl class="figures">
          <dt>rate</dt>
          <dd>{rps(m.rps)}</dd>
          <dt>success</dt>
          <dd class={`h-${health(m.successRate)}`}>{pct(m.successRate)}</dd>
          <dt>requests</dt>
          <dd>
            {m.requests} ({m.errors} failed)
          </dd>
          <dt>p50 / p95 / p99</dt>
          <dd>
            {ms(m.p50Ms)} / {ms(m.p95Ms)} / {ms(m.p99Ms)}
          </dd>
          <dt>sidecars</dt>
          <dd>{m.sidecars}</dd>
        </dl>
      ) : (
        <p class="muted">No traffic in the window.</p>
      )}
      {sel.kind === 'edge' && (
        <p>
          <a href={`#/explain/${[shortName(sel.edge.source), 'GET', `http://${shortName(sel.edge.destination)}/`, sel.edge.source.split('.')[1] ?? 'default'].map(encodeURIComponent).join('/')}`} data-explain>
            Explain a request on this edge
          </a>
        </p>
      )}
      <h3>Failing and slow traces</h3>
      {error && <p class="error">{error}</p>}
      {!traces && !error && <p class="muted">Loading…</p>}
      {traces && traces.length === 0 && <p class="muted">None stored.</p>}
      <ul class="trace-links">
        {traces?.map((t) => (
          <li key={t.traceId}>
            <a href={`#/traces/${t.traceId}`} data-trace={t.traceId}>
              <span class={t.errors ? 'badge bad' : 'badge'}>{t.errors ? `${t.errors} err` : 'slow'}</span> {t.service}: {t.name} · {ms(t.durationMs)} · {t.spans} spans
            </a>
          </li>
        ))}
      </ul>
    </aside>
  );
}
