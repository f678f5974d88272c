/**
 * The control-plane replicas a proxy knows (`--control-plane a:15010,b:15010,c:15010`), and which
 * one it uses now. The ADS stream, certificate requests and load reports all follow `current`:
 * when the ADS stream to it is lost, or a replica cannot be reached, the proxy moves on to the next
 * one (its last good config keeps serving meanwhile). Proxies start at a random replica, so they
 * spread over the replicas instead of all landing on the first one.
 */
/** Host and port of a `host:port` or `[v6]:port` address; undefined when it is neither. */
export function hostPort(address: string): { host: string; port: number } | undefined {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address);
  return m ? { host: m[1]!, port: Number(m[2]) } : undefined;
}

/** hostPort, for an address that must be one: throws "want HOST:PORT" otherwise. */
export function requireHostPort(address: string): { host: string; port: number } {
  const hp = hostPort(address);
  if (!hp) throw new Error(`want HOST:PORT, got '${address}'`);
  return hp;
}

export class ControlPlanes {
  readonly addresses: readonly string[];
  #i: number;

  /** `list`: host:port[,host:port...] (spaces around commas allowed). */
  constructor(list: string, random: () => number = Math.random) {
    const addresses = list
      .split(',')
      .map((a) => a.trim())
      .filter(Boolean);
    if (!addresses.length) throw new Error('--control-plane: want HOST:PORT[,HOST:PORT...], got nothing');
    for (const a of addresses) {
      const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(a);
      if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new Error(`--control-plane: '${a}' is not HOST:PORT`);
    }
    if (new Set(addresses).size !== addresses.length) throw new Error(`--control-plane: '${list}' names a replica twice`);
    this.addresses = addresses;
    this.#i = Math.floor(random() * addresses.length) % addresses.length;
  }

  /** A single address, or a ControlPlanes shared by the proxy's clients. */
  static of(a: string | ControlPlanes): ControlPlanes {
    return typeof a === 'string' ? new ControlPlanes(a, () => 0) : a;
  }

  get current(): string {
    return this.addresses[this.#i]!;
  }

  get size(): number {
    return this.addresses.length;
  }

  /**
   * `failed` could not be used: move on to the replica after it (if it is still the current one:
   * two clients failing on the same replica move once). Returns the replica to use now.
   */
  next(failed: string = this.current): string {
    if (failed === this.current) this.#i = (this.#i + 1) % this.addresses.length;
    return this.current;
  }
}
