/**
 * HTTP/1.1 Upgrade (WebSocket and friends): the request head is forwarded to a host of the routed
 * cluster on a fresh connection, and from then on bytes are piped both ways untouched.
 */
import type net from 'node:net';
import { dial } from '../upstream/dial.js';
import { peerPrincipal } from '../tls/mesh-tls.js';
import type { Duplex } from 'node:stream';
import type { H1Downstream } from './h1-response.js';
import { requestHeaders } from './headers.js';
import { respondErrorRaw } from './respond.js';
import type { RouterContext } from './router.js';

export function forwardUpgrade(d: H1Downstream, socket: Duplex, head: Buffer, ctx: RouterContext): void {
  const fail = (code: Parameters<typeof respondErrorRaw>[1], msg: string) => respondErrorRaw(socket as net.Socket, code, msg);
  const rbac = ctx.rbac?.();
  if (rbac) {
    const decision = rbac.evaluate({ method: d.method, path: d.path, header: (n) => d.header(n), principal: peerPrincipal(socket) });
    if (!decision.allowed) {
      ctx.onDeny?.(d, decision);
      return respondErrorRaw(socket as net.Socket, 'RBAC_DENIED', `RBAC: access denied (${decision.reason})`, 403);
    }
  }
  const table = ctx.routeTable();
  if (!table) return fail('NOT_READY', 'no route configuration yet');
  const r = table.match(d.authority, d.path, d.search, d);
  if (!r || r.kind !== 'forward') return fail('NO_ROUTE', `no route for upgrade ${d.authority}${d.path}`);
  const cluster = ctx.cluster(r.cluster ?? r.weighted?.names[0] ?? '');
  const host = cluster?.picker.pick({ hash: undefined });
  if (!cluster || !host) return fail('NO_HEALTHY_UPSTREAM', `no healthy endpoint for ${d.authority}`);
  const flat = requestHeaders(d, r.hostRewrite ?? d.authority, r.reqRemove, r.reqAdd, false);
  let headText = `${d.method} ${d.path}${d.search} HTTP/1.1\r\n`;
  for (let i = 0; i < flat.length; i += 2) headText += `${flat[i]}: ${flat[i + 1]}\r\n`;
  headText += `connection: upgrade\r\nupgrade: ${d.header('upgrade') ?? ''}\r\n\r\n`;
  const { socket: up, ready } = dial(host, cluster.tls, 'http/1.1');
  let connected = false;
  up.once(ready, () => {
    connected = true;
    up.write(headText);
    if (head.length) up.write(head);
    socket.pipe(up);
    up.pipe(socket);
  });
  up.on('error', (e: NodeJS.ErrnoException) => {
    if (!connected) fail('UPSTREAM_CONNECT_FAILURE', `could not connect to ${host.key} (${e.code ?? e.message})`);
    else socket.destroy();
  });
  socket.on('error', () => up.destroy());
  up.on('close', () => socket.destroy());
  socket.on('close', () => up.destroy());
}
