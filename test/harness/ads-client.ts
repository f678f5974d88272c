/**
 * A scriptable ADS client for tests: SotW or delta over real gRPC, collects responses, ACKs or
 * NACKs on demand (or automatically). Lets tests play any xDS client, well-behaved or not.
 */
import * as grpc from '@grpc/grpc-js';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import {
  DeltaDiscoveryRequestSchema,
  DiscoveryRequestSchema,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  type DiscoveryRequest,
  type DiscoveryResponse,
} from '../../proto/gen/envoy/service/discovery/v3/discovery_pb.js';
import { adsServiceDefinition } from '../../common/ads-service.js';

export type NodeInit = MessageInitShape<typeof DiscoveryRequestSchema>['node'];

class Inbox<T> {
  readonly all: T[] = [];
  #waiters: Array<{ pred: (x: T) => boolean; resolve: (x: T) => void }> = [];
  #read = 0;
  push(x: T) {
    this.all.push(x);
    for (const w of [...this.#waiters]) {
      if (w.pred(x)) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve(x);
      }
    }
  }
  /** The next unread item matching `pred` (scans unread items first). */
  next(pred: (x: T) => boolean = () => true, timeoutMs = 5000): Promise<T> {
    for (let i = this.#read; i < this.all.length; i++) {
      if (pred(this.all[i]!)) {
        this.#read = i + 1;
        return Promise.resolve(this.all[i]!);
      }
    }
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no matching xDS response within ${timeoutMs} ms (got ${this.all.length})`)), timeoutMs);
      this.#waiters.push({
        pred,
        resolve: (x) => {
          clearTimeout(t);
          this.#read = this.all.length;
          resolve(x);
        },
      });
    });
  }
  /** True when no further item arrives within `ms`. */
  async quiet(ms: number): Promise<boolean> {
    const n = this.all.length;
    await new Promise((r) => setTimeout(r, ms));
    return this.all.length === n;
  }
}

function makeClient(address: string, credentials = grpc.credentials.createInsecure()): grpc.Client {
  return new grpc.Client(address, credentials, { 'grpc.use_local_subchannel_pool': 1 });
}

/** Resolves with the stream's final gRPC status (code and details). */
function statusOf(stream: { on(event: 'status', l: (s: grpc.StatusObject) => void): unknown }): Promise<grpc.StatusObject> {
  return new Promise((resolve) => stream.on('status', resolve));
}

export class SotwClient {
  readonly responses = new Inbox<DiscoveryResponse>();
  readonly #client: grpc.Client;
  readonly #stream: grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>;
  #node: NodeInit | undefined;
  /** When set, every response is ACKed right away with the same subscription. */
  autoAck = false;
  readonly #names = new Map<string, string[]>();
  /** The stream's final status (e.g. PERMISSION_DENIED when the control plane refused it). */
  readonly status: Promise<grpc.StatusObject>;

  /** `credentials`: default insecure (the plaintext port); TLS ones for the TLS port. */
  constructor(address: string, node: NodeInit, credentials?: grpc.ChannelCredentials) {
    this.#client = makeClient(address, credentials);
    const d = adsServiceDefinition.StreamAggregatedResources;
    this.#stream = this.#client.makeBidiStreamRequest(d.path, d.requestSerialize, d.responseDeserialize);
    this.status = statusOf(this.#stream);
    this.#stream.on('data', (r: DiscoveryResponse) => {
      this.responses.push(r);
      if (this.autoAck) this.ack(r);
    });
    this.#stream.on('error', () => undefined);
    this.#node = node;
  }

  /** `node`: send this node (xDS allows one on any request; a draining sidecar re-sends its own). */
  send(init: Omit<MessageInitShape<typeof DiscoveryRequestSchema>, 'node' | '$typeName'>, node?: NodeInit): void {
    const req = create(DiscoveryRequestSchema, { ...init, node: node ?? this.#node } as MessageInitShape<typeof DiscoveryRequestSchema>);
    this.#node = undefined;
    if (init.typeUrl) this.#names.set(init.typeUrl, [...(init.resourceNames ?? [])]);
    this.#stream.write(req);
  }

  subscribe(typeUrl: string, names: string[] = []): void {
    this.send({ typeUrl, resourceNames: names });
  }

  ack(r: DiscoveryResponse, names?: string[]): void {
    this.send({ typeUrl: r.typeUrl, versionInfo: r.versionInfo, responseNonce: r.nonce, resourceNames: names ?? this.#names.get(r.typeUrl) ?? [] });
  }

  nack(r: DiscoveryResponse, message: string, lastGoodVersion = ''): void {
    this.send({
      typeUrl: r.typeUrl,
      versionInfo: lastGoodVersion,
      responseNonce: r.nonce,
      resourceNames: this.#names.get(r.typeUrl) ?? [],
      errorDetail: { code: 3, message },
    });
  }

  next(typeUrl?: string, timeoutMs?: number): Promise<DiscoveryResponse> {
    return this.responses.next((r) => !typeUrl || r.typeUrl === typeUrl, timeoutMs);
  }

  close(): void {
    this.#stream.cancel();
    this.#client.close();
  }
}

export class DeltaClient {
  readonly responses = new Inbox<DeltaDiscoveryResponse>();
  readonly #client: grpc.Client;
  readonly #stream: grpc.ClientDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;
  #node: NodeInit | undefined;
  autoAck = false;
  /** The stream's final status (e.g. PERMISSION_DENIED when the control plane refused it). */
  readonly status: Promise<grpc.StatusObject>;

  /** `credentials`: default insecure (the plaintext port); TLS ones for the TLS port. */
  constructor(address: string, node: NodeInit, credentials?: grpc.ChannelCredentials) {
    this.#client = makeClient(address, credentials);
    const d = adsServiceDefinition.DeltaAggregatedResources;
    this.#stream = this.#client.makeBidiStreamRequest(d.path, d.requestSerialize, d.responseDeserialize);
    this.status = statusOf(this.#stream);
    this.#stream.on('data', (r: DeltaDiscoveryResponse) => {
      this.responses.push(r);
      if (this.autoAck) this.ack(r);
    });
    this.#stream.on('error', () => undefined);
    this.#node = node;
  }

  send(init: Omit<MessageInitShape<typeof DeltaDiscoveryRequestSchema>, 'node' | '$typeName'>): void {
    this.#stream.write(create(DeltaDiscoveryRequestSchema, { ...init, node: this.#node } as MessageInitShape<typeof DeltaDiscoveryRequestSchema>));
    this.#node = undefined;
  }

  ack(r: DeltaDiscoveryResponse): void {
    this.send({ typeUrl: r.typeUrl, responseNonce: r.nonce });
  }

  nack(r: DeltaDiscoveryResponse, message: string): void {
    this.send({ typeUrl: r.typeUrl, responseNonce: r.nonce, errorDetail: { code: 3, message } });
  }

  next(typeUrl?: string, timeoutMs?: number): Promise<DeltaDiscoveryResponse> {
    return this.responses.next((r) => !typeUrl || r.typeUrl === typeUrl, timeoutMs);
  }

  close(): void {
    this.#stream.cancel();
    this.#client.close();
  }
}
