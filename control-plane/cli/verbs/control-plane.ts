/** `weft control-plane`: run the control-plane daemon in the foreground. */
import { parseArgs } from 'node:util';
import { createLogger, parseLogFormat, parseLogLevel, type LogFormat } from '../../../common/log.js';
import { startControlPlane } from '../../main.js';
import { defaultDataDir, usageError, type Verb } from '../context.js';
import { parseDurationFlag } from '../flags.js';
import { readFileSync } from 'node:fs';
import { parseEtcdUrl, type EtcdStoreOptions } from '../../store/etcd-options.js';
import { deriveKek } from '../../ca/etcd-vault.js';

const usage = `Usage: weft control-plane [--data-dir DIR] [--xds-address HOST:PORT] [--admin-address HOST:PORT] [flags]

Runs the control plane: the config store, the service registry and the xDS v3 server (ADS, state
of the world and delta) that every proxy connects to, plus the admin API the CLI uses.

  --data-dir DIR            store, admin token (env WEFT_DATA_DIR, default ~/.weft/data)
  --store file|etcd://HOST:PORT[,HOST:PORT...]
                            where the configuration lives: the file store in DIR (default), or
                            etcd, shared by several control-plane replicas (each follows it with a
                            watch; an apply is one transaction guarded by the revision it read).
                            A replica waits for etcd at start and is not ready until it read it.
  --etcd-prefix P           key prefix in etcd (default /weft)
  --etcd-ca-file FILE       TLS to etcd: the CA of its certificates (https:// to the members)
  --etcd-cert-file FILE, --etcd-key-file FILE
                            a client certificate when etcd asks for one
  --etcd-username U, --etcd-password-file FILE
                            etcd authentication
  --etcd-max-txn-ops N      the most operations etcd takes in one transaction: set it to the
                            members' --max-txn-ops (default 128). An apply writes one key per
                            resource, so larger applies are refused (STORE_LIMIT, 413) until
                            both are raised; etcd's --max-request-bytes (1.5 MiB) bounds an
                            apply's size the same way
  --ca-kek-file FILE        with etcd, required: the key-encryption key (32+ bytes of secret, the
                            same file on every replica; make it once with
                            \`head -c 32 /dev/urandom | base64 > kek\`). The CA's signing keys, the
                            join-token key and the admin token live in etcd sealed with it, so
                            every replica signs with one CA and accepts one admin token.
  --replica-name NAME       this replica's name among replicas (default HOSTNAME-PID)
  --advertise-host HOST     where other replicas, the CLI and proxies reach this replica (shown by
                            \`weft get replicas\`); default: the --admin-address host, or the
                            machine's hostname when that is 0.0.0.0 or ::
  --xds-address HOST:PORT   xDS over TLS (ADS, and the certificate API sidecars use); default
                            127.0.0.1:15010. Sidecars authenticate with their workload certificate.
  --xds-plaintext-address HOST:PORT
                            also serve xDS in plaintext, for proxyless gRPC clients (grpc-js-xds
                            accepts only insecure channels). Unauthenticated: keep it on loopback.
                            Its streams get config but register no instances.
  --xds-plaintext-register  let plaintext xDS streams register instances too (trusted hosts and
                            tests only: any local process could then add endpoints to any
                            service). Never replaces an instance a TLS sidecar holds. Logs a
                            warning at start.
  --ca-cert-file FILE       use your own CA: the signing certificate (root or intermediate) ...
  --ca-key-file FILE        ... its private key ...
  --ca-chain-file FILE      ... and the certificates above it up to the root (default: a built-in
                            ECDSA P-256 root is created on first start, key 0600 in DIR/ca)
  --otlp-address HOST:PORT  embedded OTLP/HTTP trace receiver, POST /v1/traces (default
                            127.0.0.1:4318; 'off' disables it). Feeds \`weft trace list|show\`.
  --load-report-interval DURATION
                            how often sidecars send load reports (LRS) for \`weft stat\`
                            (default 5s)
  --ca-rotation-step-timeout DURATION
                            how long each root-rotation step waits for sidecars (default 30s)
  --admin-address HOST:PORT admin HTTP/JSON API and /metrics (default 127.0.0.1:15014)
  --registry-grace DURATION how long an instance stays registered after its proxy disconnects (default 10s)
  --xds-push-budget MIB     xDS response bytes queued for writing at once, over all proxies
                            (default 8). Bounds memory when many proxies need large responses
                            together; a push waits for earlier ones to be read. Raise it for
                            faster fan-out on a big machine, lower it to save memory.
  --log-level LEVEL         trace|debug|info|warn|error (default info; env WEFT_LOG_LEVEL)
  --log-format json|pretty  json (default, env WEFT_LOG_FORMAT): one JSON object per line, ISO
                            8601 time; pretty: one readable line per event for a terminal

Prints "weft control-plane ready xds=HOST:PORT admin=HOST:PORT [xds-plaintext=HOST:PORT] [otlp=HOST:PORT] pid=PID"
on stdout once serving; PID is this process (stop it with kill PID).
Stops on SIGTERM or SIGINT.`;

export const controlPlane: Verb = {
  name: 'control-plane',
  summary: 'run the control plane daemon',
  usage,
  async run(args, io) {
    const { values } = parseArgs({
      args,
      options: {
        'data-dir': { type: 'string' },
        'xds-address': { type: 'string', default: '127.0.0.1:15010' },
        'admin-address': { type: 'string', default: '127.0.0.1:15014' },
        'registry-grace': { type: 'string', default: '10s' },
        'log-level': { type: 'string' },
        'log-format': { type: 'string' },
        'xds-plaintext-address': { type: 'string' },
        'xds-plaintext-register': { type: 'boolean', default: false },
        'ca-cert-file': { type: 'string' },
        'ca-key-file': { type: 'string' },
        'ca-chain-file': { type: 'string' },
        'ca-rotation-step-timeout': { type: 'string', default: '30s' },
        'otlp-address': { type: 'string', default: '127.0.0.1:4318' },
        'load-report-interval': { type: 'string', default: '5s' },
        'xds-push-budget': { type: 'string', default: '8' },
        store: { type: 'string', default: 'file' },
        'etcd-prefix': { type: 'string' },
        'etcd-ca-file': { type: 'string' },
        'etcd-cert-file': { type: 'string' },
        'etcd-key-file': { type: 'string' },
        'etcd-username': { type: 'string' },
        'etcd-password-file': { type: 'string' },
        'ca-kek-file': { type: 'string' },
        'etcd-max-txn-ops': { type: 'string' },
        'replica-name': { type: 'string' },
        'advertise-host': { type: 'string' },
      },
    });
    let graceMs: number;
    let stepMs: number;
    try {
      graceMs = parseDurationFlag(values['registry-grace']!);
    } catch (e) {
      throw usageError(`--registry-grace: ${(e as Error).message}`);
    }
    try {
      stepMs = parseDurationFlag(values['ca-rotation-step-timeout']!);
    } catch (e) {
      throw usageError(`--ca-rotation-step-timeout: ${(e as Error).message}`);
    }
    let lrsMs: number;
    try {
      lrsMs = parseDurationFlag(values['load-report-interval']!);
      if (lrsMs < 100) throw new Error('want at least 100ms');
    } catch (e) {
      throw usageError(`--load-report-interval: ${(e as Error).message}`);
    }
    const budgetMiB = Number(values['xds-push-budget']);
    if (!Number.isFinite(budgetMiB) || budgetMiB <= 0) throw usageError(`--xds-push-budget: want a positive number of MiB, got '${values['xds-push-budget']}'`);
    if (values['xds-plaintext-register'] && !values['xds-plaintext-address']) throw usageError('--xds-plaintext-register needs --xds-plaintext-address');
    if (!values['ca-cert-file'] !== !values['ca-key-file']) throw usageError('--ca-cert-file and --ca-key-file go together');
    let etcd: EtcdStoreOptions | undefined;
    if (values.store !== 'file') {
      let endpoints: string[];
      try {
        endpoints = parseEtcdUrl(values.store!);
      } catch (e) {
        throw usageError((e as Error).message);
      }
      if (!values['etcd-cert-file'] !== !values['etcd-key-file']) throw usageError('--etcd-cert-file and --etcd-key-file go together');
      if (!values['etcd-username'] !== !values['etcd-password-file']) throw usageError('--etcd-username and --etcd-password-file go together');
      if (values['etcd-cert-file'] && !values['etcd-ca-file']) throw usageError('--etcd-cert-file needs --etcd-ca-file (TLS to etcd)');
      const read = (f: string, flag: string) => {
        try {
          return readFileSync(f, 'utf8');
        } catch (e) {
          throw usageError(`${flag}: ${(e as Error).message}`);
        }
      };
      if (!values['ca-kek-file']) throw usageError('--store etcd://... needs --ca-kek-file: the key-encryption key every replica shares (make it once: head -c 32 /dev/urandom | base64 > kek)');
      const maxOps = values['etcd-max-txn-ops'] === undefined ? undefined : Number(values['etcd-max-txn-ops']);
      if (maxOps !== undefined && !(Number.isInteger(maxOps) && maxOps >= 2 && maxOps <= 1_000_000)) throw usageError(`--etcd-max-txn-ops: want an integer from 2 to 1000000, got '${values['etcd-max-txn-ops']}'`);
      etcd = {
        endpoints,
        ...(maxOps !== undefined ? { maxTxnOps: maxOps } : {}),
        ...(values['etcd-prefix'] ? { prefix: values['etcd-prefix'] } : {}),
        ...(values['etcd-ca-file'] ? { tls: { caPem: read(values['etcd-ca-file'], '--etcd-ca-file'), ...(values['etcd-cert-file'] ? { certPem: read(values['etcd-cert-file'], '--etcd-cert-file'), keyPem: read(values['etcd-key-file']!, '--etcd-key-file') } : {}) } } : {}),
        ...(values['etcd-username'] ? { auth: { username: values['etcd-username'], password: read(values['etcd-password-file']!, '--etcd-password-file').trim() } } : {}),
      };
    } else {
      for (const f of ['etcd-prefix', 'etcd-ca-file', 'etcd-cert-file', 'etcd-key-file', 'etcd-username', 'etcd-password-file', 'ca-kek-file', 'etcd-max-txn-ops'] as const) if (values[f] !== undefined) throw usageError(`--${f} needs --store etcd://...`);
    }
    let caKek: Buffer | undefined;
    if (values['ca-kek-file']) {
      try {
        caKek = readFileSync(values['ca-kek-file']);
        deriveKek(caKek, values['ca-kek-file']);
      } catch (e) {
        throw usageError(`--ca-kek-file: ${(e as Error).message}`);
      }
    }
    if (values['replica-name'] !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(values['replica-name'])) throw usageError(`--replica-name: want letters, digits, '.', '_' or '-' (at most 63), got '${values['replica-name']}'`);
    let logFormat: LogFormat;
    let logLevel: string;
    try {
      logFormat = parseLogFormat(values['log-format']);
      logLevel = parseLogLevel(values['log-level']);
    } catch (e) {
      throw usageError((e as Error).message);
    }
    const logger = createLogger('weft-control-plane', logLevel, logFormat);
    let cp;
    try {
      cp = await startControlPlane({
        dataDir: values['data-dir'] ?? defaultDataDir(),
        ...(etcd ? { etcd, caKek } : {}),
        ...(values['replica-name'] ? { replicaName: values['replica-name'] } : {}),
        ...(values['advertise-host'] ? { advertiseHost: values['advertise-host'] } : {}),
        xdsAddress: values['xds-address']!,
        adminAddress: values['admin-address']!,
        registryGraceMs: graceMs,
        logger,
        xdsPlaintextAddress: values['xds-plaintext-address'],
        xdsPlaintextRegister: values['xds-plaintext-register'],
        caCertFile: values['ca-cert-file'],
        caKeyFile: values['ca-key-file'],
        caChainFile: values['ca-chain-file'],
        rotationStepTimeoutMs: stepMs,
        loadReportIntervalMs: lrsMs,
        xdsPushBudgetBytes: Math.round(budgetMiB * 1024 * 1024),
        ...(values['otlp-address'] !== 'off' ? { otlpAddress: values['otlp-address'] } : {}),
      });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'EADDRINUSE') throw usageError(`address in use: ${err.message}; choose another with --xds-address / --admin-address`);
      throw e;
    }
    const xdsHost = values['xds-address']!.replace(/:\d+$/, '');
    const adminHost = values['admin-address']!.replace(/:\d+$/, '');
    const plain = values['xds-plaintext-address'] ? ` xds-plaintext=${values['xds-plaintext-address'].replace(/:\d+$/, '')}:${cp.xdsPlaintextPort}` : '';
    const otlpOut = cp.otlpPort ? ` otlp=${values['otlp-address']!.replace(/:\d+$/, '')}:${cp.otlpPort}` : '';
    // Signal handlers before the ready line: a script that stops the daemon as soon as it reads the
    // line must not meet the default action (killed, not stopped).
    const stopped = new Promise<void>((resolve) => {
      const stop = () => {
        logger.info('shutting down');
        cp.stop().then(resolve, resolve);
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    // pid: the daemon's own process (not a launcher's such as npx), the one SIGTERM stops.
    io.out(`weft control-plane ready xds=${xdsHost}:${cp.xdsPort} admin=${adminHost}:${cp.adminPort}${plain}${otlpOut} pid=${process.pid}`);
    await stopped;
    return 0;
  },
};
