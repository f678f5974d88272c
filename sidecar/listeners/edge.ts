/**
 * A gateway listener's chains as one applied config built them: which chain a connection gets
 * (by SNI: exact name, then the longest `*.suffix` wildcard, then the default chain without
 * server_names), and each HTTPS chain's TLS context made from its certificates. Contexts are
 * kept from the previous state when the certificates and settings did not change, so a config
 * push does not cost a context build, and TLS sessions and tickets stay valid across pushes.
 */
import tls from 'node:tls';
import type { ListenerContext } from './http-listener.js';
import type { TerminatingTls, ServingCertificate } from '../xds/types/tls.js';

export interface EdgeChainInput {
  readonly serverNames: readonly string[];
  readonly terminate: TerminatingTls | undefined;
  /** The certificates, when every one the chain names has arrived (undefined: not yet). */
  readonly certificates: readonly ServingCertificate[] | undefined;
  readonly ctx: ListenerContext;
}

export interface EdgeChainState {
  readonly serverNames: readonly string[];
  readonly ctx: ListenerContext;
  readonly alpn: readonly string[];
  /** The chain's TLS context (undefined for plaintext, or while its certificates are missing). */
  readonly secure: tls.SecureContext | undefined;
  /** Identifies the context's inputs (certificates and TLS settings). */
  readonly secureKey: string;
  /** What `secure` was made from (a server's default context is set from options). */
  readonly options: tls.SecureContextOptions | undefined;
}

export interface EdgeSource {
  current(): EdgeState | undefined;
}

const contextKey = (c: EdgeChainInput): string => (c.terminate && c.certificates ? `${c.terminate.minVersion}|${c.terminate.maxVersion}|${c.terminate.ciphers ?? ''}|${c.certificates.map((x) => x.certPem + x.keyPem).join('|')}` : '');

export class EdgeState {
  readonly chains: readonly EdgeChainState[];
  /** Whether connections must be TLS (the chains terminate TLS) or plaintext HTTP. */
  readonly tls: boolean;
  readonly #exact = new Map<string, EdgeChainState>();
  /** `*.suffix` wildcards as `.suffix`, longest first. */
  readonly #wild: Array<[string, EdgeChainState]> = [];
  readonly #default: EdgeChainState | undefined;
  /**
   * The versions and TLS 1.2 suites any chain allows: the server's own, since OpenSSL takes them
   * from the context a connection starts with, before SNI selects a chain's.
   */
  readonly minVersion: tls.SecureVersion;
  readonly maxVersion: tls.SecureVersion;
  readonly ciphers: string | undefined;

  constructor(inputs: readonly EdgeChainInput[], prev: EdgeState | undefined) {
    const reuse = new Map<string, { secure: tls.SecureContext; options: tls.SecureContextOptions }>();
    for (const c of prev?.chains ?? []) if (c.secure && c.options) reuse.set(c.secureKey, { secure: c.secure, options: c.options });
    this.chains = inputs.map((c) => {
      const key = contextKey(c);
      let made = key ? reuse.get(key) : undefined;
      if (key && !made) {
        const t = c.terminate!;
        const options: tls.SecureContextOptions = {
          cert: c.certificates!.map((x) => x.certPem),
          key: c.certificates!.map((x) => x.keyPem),
          minVersion: t.minVersion,
          maxVersion: t.maxVersion,
          ...(t.ciphers ? { ciphers: t.ciphers } : {}),
        };
        made = { secure: tls.createSecureContext(options), options };
        reuse.set(key, made);
      }
      return { serverNames: c.serverNames, ctx: c.ctx, alpn: c.terminate?.alpn ?? [], secure: made?.secure, options: made?.options, secureKey: key };
    });
    this.tls = inputs.some((c) => c.terminate);
    let def: EdgeChainState | undefined;
    for (const c of this.chains) {
      if (!c.serverNames.length) def ??= c;
      for (const n of c.serverNames) {
        if (n.startsWith('*.')) this.#wild.push([n.slice(1), c]);
        else this.#exact.set(n, c);
      }
    }
    this.#wild.sort((a, b) => b[0].length - a[0].length);
    this.#default = def;
    const versions = inputs.flatMap((c) => (c.terminate ? [c.terminate.minVersion, c.terminate.maxVersion] : []));
    this.minVersion = versions.includes('TLSv1.2') ? 'TLSv1.2' : 'TLSv1.3';
    this.maxVersion = versions.includes('TLSv1.3') ? 'TLSv1.3' : 'TLSv1.2';
    const suites = [...new Set(inputs.flatMap((c) => c.terminate?.ciphers?.split(':') ?? []))];
    this.ciphers = suites.length ? suites.join(':') : undefined;
  }

  /** The chain for a connection whose SNI is `servername` (none: the default chain). */
  select(servername: string | false | undefined | null): EdgeChainState | undefined {
    if (servername) {
      const n = servername.toLowerCase();
      const exact = this.#exact.get(n);
      if (exact) return exact;
      for (const [suffix, c] of this.#wild) if (n.length > suffix.length && n.endsWith(suffix)) return c;
    }
    return this.#default;
  }

  /**
   * The server's own context: the default chain's certificates (clients without SNI), if any, and
   * always the versions and suites of every chain.
   */
  serverOptions(): { key: string; options: tls.SecureContextOptions } {
    const d = this.#default;
    const base = d?.options ?? {};
    const options: tls.SecureContextOptions = { ...base, minVersion: this.minVersion, maxVersion: this.maxVersion, ...(this.ciphers ? { ciphers: this.ciphers } : {}) };
    return { key: `${d?.secureKey ?? ''}|${this.minVersion}|${this.maxVersion}|${this.ciphers ?? ''}`, options };
  }

  /** The chain without SNI (the server's default context), if any. */
  get defaultChain(): EdgeChainState | undefined {
    return this.#default;
  }
}
