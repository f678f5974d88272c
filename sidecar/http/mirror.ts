/**
 * Request mirroring (Envoy's request_mirror_policies, the Gateway API's RequestMirror): a share of
 * a route's requests is also sent to a shadow cluster, fire and forget. The shadow gets the same
 * request (after the route's rewrites and header edits) with `-shadow` appended to the host, as
 * Envoy does; its answer is dropped and its failures are only counted on the shadow cluster. It
 * never delays or fails the primary: the shadow reads the request body only as the primary
 * exchange reads it (ReplayableBody.follow), and a body larger than the replay buffer is not
 * mirrored past it (the shadow request is reset).
 */
import { Readable } from 'node:stream';
import type { MirrorPolicy } from '../routing/route-table.js';
import type { UpstreamCluster } from '../upstream/cluster.js';
import type { ReplayableBody } from './body.js';
import { Exchange } from './exchange.js';
import { RequestInfo, type RequestHead, type ResponseHeaders, type ResponseSink } from './filter.js';

/** host[:port] -> host-shadow[:port]. */
export function shadowAuthority(authority: string): string {
  const colon = authority.lastIndexOf(':');
  if (colon > 0 && authority.indexOf(']') < colon && /^\d+$/.test(authority.slice(colon + 1))) return `${authority.slice(0, colon)}-shadow${authority.slice(colon)}`;
  return `${authority}-shadow`;
}

const EMPTY: readonly string[] = [];

/** The primary request as the shadow cluster sees it. */
class ShadowRequest implements RequestHead {
  readonly h2: boolean;
  readonly grpc: boolean;
  readonly method: string;
  readonly authority: string;
  readonly path: string;
  readonly search: string;
  readonly upgrade = undefined;
  readonly remoteAddress: string;
  readonly principal: string | undefined;
  readonly secure: boolean;
  readonly hasBody: boolean;
  readonly body: Readable;
  readonly #req: RequestHead;

  constructor(req: RequestHead, body: ReplayableBody | undefined, suffix: boolean) {
    this.#req = req;
    this.h2 = req.h2;
    this.grpc = req.grpc;
    this.method = req.method;
    this.authority = suffix ? shadowAuthority(req.authority) : req.authority;
    this.path = req.path;
    this.search = req.search;
    this.remoteAddress = req.remoteAddress;
    this.principal = req.principal;
    this.secure = req.secure;
    this.hasBody = body !== undefined;
    this.body = body ? Readable.from(body.follow()) : Readable.from(EMPTY);
    this.body.on('error', () => undefined);
  }
  header(name: string): string | undefined {
    return name === ':authority' || name === 'host' ? this.authority : this.#req.header(name);
  }
  rawPairs(): string[] {
    return this.#req.rawPairs();
  }
}

/** Where a shadow's answer goes: nowhere. */
class DroppedResponse implements ResponseSink {
  headersSent = false;
  writeHead(): void {
    this.headersSent = true;
  }
  write(): boolean {
    return true;
  }
  onceDrain(): void {}
  end(_trailers: ResponseHeaders | undefined): void {}
  respondTrailersOnly(): void {
    this.headersSent = true;
  }
  respondSimple(): void {
    this.headersSent = true;
  }
  abort(): void {}
  onClientGone(): void {}
  closeAfterResponse(): void {}
}

/** Starts the shadows of one request that its route's policies pick. */
export function mirror(req: RequestHead, body: ReplayableBody | undefined, policies: readonly MirrorPolicy[], cluster: (name: string) => UpstreamCluster | undefined): void {
  for (const m of policies) {
    if (m.numerator < m.scale && !(Math.random() * m.scale < m.numerator)) continue;
    const c = cluster(m.cluster);
    if (!c) continue;
    new Exchange(new ShadowRequest(req, body, m.hostSuffix), new DroppedResponse(), new RequestInfo(), m.route, c, undefined).start();
  }
}
