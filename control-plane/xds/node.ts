/**
 * What the control plane knows about a connected xDS client, decoded once from its Node message.
 */
import type { Node } from '../../proto/gen/envoy/config/core/v3/base_pb.js';
import type { JsonObject, JsonValue } from '@bufbuild/protobuf';
import { NODE_META, type ProxyRole } from '../../common/xds-types.js';
import type { AppProtocol } from '../config/types.js';

export interface NodeInfo {
  readonly id: string;
  /** Node.cluster, kept for display. */
  readonly cluster: string;
  readonly role: ProxyRole;
  /** The service this node is an instance of, when it registers one. */
  readonly service?: string;
  readonly namespace: string;
  readonly zone?: string;
  readonly instanceIp?: string;
  readonly instancePort?: number;
  readonly appPort?: number;
  /**
   * What the app behind a sidecar speaks (`weft sidecar --app-protocol`): http, http2 or grpc
   * (the inbound listener is an HTTP connection manager), or tcp (tcp_proxy, no HTTP). Anything
   * else is left out, and the sidecar is taken as http.
   */
  readonly appProtocol?: AppProtocol;
  readonly labels: Readonly<Record<string, string>>;
  /** WEFT_INSTANCE: the instance this node shares with others (a sidecar's workers); see instanceKey. */
  readonly instance?: string;
  /** The worker index of a `--workers N` sidecar (WEFT_WORKER), for display. */
  readonly worker?: number;
  /** WEFT_GATEWAY: `<namespace>/<name>` of the Gateway a gateway node serves. */
  readonly gateway?: string;
  /** User agent (e.g. 'grpc-node-js 1.14.1', 'weft-sidecar 0.1.0'). */
  readonly userAgent: string;
  /**
   * The SPIFFE ID of the workload certificate this node connected with (xDS over TLS), verified
   * against the mesh CA; undefined on the plaintext port. Its instance is then a mesh endpoint
   * that peers reach with mTLS.
   */
  readonly peerId?: string;
}

function str(v: JsonValue | undefined): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function num(v: JsonValue | undefined): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v !== '' ? Number(v) : NaN;
  return Number.isInteger(n) && n > 0 && n < 65536 ? n : undefined;
}

const APP_PROTOCOLS: readonly string[] = ['http', 'http2', 'grpc', 'tcp'] satisfies readonly AppProtocol[];

function appProtocol(v: string | undefined): AppProtocol | undefined {
  return v !== undefined && APP_PROTOCOLS.includes(v) ? (v as AppProtocol) : undefined;
}

/**
 * The key the registry holds this node's instance under: WEFT_INSTANCE when the node shares its
 * listeners with other nodes (the workers of `weft sidecar --workers N`, one endpoint for all),
 * else its node id.
 */
export function instanceKey(node: NodeInfo): string {
  return node.instance ?? node.id;
}

/** Decodes node identity and Weft registration metadata; unknown metadata keys are ignored. */
export function nodeInfoFromProto(node: Node | undefined): NodeInfo {
  const md: JsonObject = node?.metadata ?? {};
  const roleRaw = str(md[NODE_META.role]);
  const role: ProxyRole = roleRaw === 'sidecar' || roleRaw === 'gateway' ? roleRaw : 'proxyless';
  const labels: Record<string, string> = {};
  const lv = md[NODE_META.labels];
  if (lv && typeof lv === 'object' && !Array.isArray(lv)) {
    for (const [k, v] of Object.entries(lv)) if (typeof v === 'string') labels[k] = v;
  }
  return {
    id: node?.id ?? '',
    cluster: node?.cluster ?? '',
    role,
    service: str(md[NODE_META.service]),
    namespace: str(md[NODE_META.namespace]) ?? 'default',
    zone: node?.locality?.zone || undefined,
    instanceIp: str(md[NODE_META.instanceIp]),
    instancePort: num(md[NODE_META.instancePort]),
    appPort: num(md[NODE_META.appPort]),
    appProtocol: appProtocol(str(md[NODE_META.appProtocol])),
    labels,
    instance: str(md[NODE_META.instance]),
    worker: num(md[NODE_META.worker]),
    gateway: str(md[NODE_META.gateway]),
    userAgent: [node?.userAgentName, node?.userAgentVersionType.case === 'userAgentVersion' ? node.userAgentVersionType.value : '']
      .filter(Boolean)
      .join(' '),
  };
}
