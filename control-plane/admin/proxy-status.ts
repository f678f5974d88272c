/** The JSON shape of one proxy's sync status, as the admin API returns and the CLI renders it. */
import type { ResourceKind } from '../../common/xds-types.js';

export type SyncState = 'SYNCED' | 'STALE' | 'NACKED';

export interface TypeStatusJson {
  state: SyncState;
  sentVersion?: string;
  ackedVersion?: string;
  nackedVersion?: string;
  nackMessage?: string;
}

export interface ProxyStatusJson {
  nodeId: string;
  role: string;
  service?: string;
  namespace: string;
  userAgent: string;
  stream: 'sotw' | 'delta';
  connectedAt: string;
  /** The configuration revision of the snapshot served to it: with every type SYNCED, it holds that revision. */
  revision?: number | null;
  /** The control-plane replica the proxy's stream is on (set by the admin API). */
  replica?: string;
  types: Partial<Record<ResourceKind, TypeStatusJson>>;
}
