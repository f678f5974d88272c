// Helper for bench/weft-footprint.sh (plain Node, no dependencies). Subcommands:
//   mesh SERVICES ENDPOINTS UP_PORT [CHANGED]   YAML on stdout: the services the sidecar's app
//       calls (`upstream`, a static endpoint at 127.0.0.1:UP_PORT), its own (`bench`), and SERVICES
//       services `svc-N` with ENDPOINTS static endpoints each on 127.x; CHANGED=1 moves one endpoint.
//   status ADMIN_URL TOKEN NODE_ID              the node's per-type sync status (JSON) from the control plane
//   wait ADMIN_URL TOKEN NODE_ID BEFORE TYPES TIMEOUT_S
//       until every type in TYPES (comma list: cluster,endpoint,...) is SYNCED with an acked version
//       other than in BEFORE (an earlier `wait`'s output, or null), and the status stays so for 1 s.
//       Asks the control plane only, so the sidecar's memory is not touched by the polling. Prints
//       {types, syncedAtMs}: the status and the wall-clock ms (Date.now()) it was first seen synced.
//   clusters SIDECAR_ADMIN [ADDRESS]             "<clusters> <hosts> <found>" from the sidecar's /clusters
//       (found = 1 when a host with that address:port is present)
//   starts N -- TOKEN_CMD... -- SIDECAR_ARGV...
//       spawns the sidecar N times, one after another; for each, ms from spawn to its `ready` line and
//       to the first 200 from `upstream` through its outbound listener; prints JSON.
import { spawn, execFileSync } from 'node:child_process';
import http from 'node:http';

const [cmd, ...args] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function mesh(services, endpoints, upPort, changed) {
  const docs = [
    `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: bench }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]`,
    `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: upstream }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n  endpoints:\n    - { address: 127.0.0.1, port: ${upPort} }`,
  ];
  for (let s = 0; s < services; s++) {
    const eps = Array.from({ length: endpoints }, (_, e) => {
      const last = changed && s === 0 && e === 0 ? 251 : (e % 250) + 1;
      return `    - { address: 127.${1 + Math.floor(s / 250)}.${s % 250}.${last}, port: ${9000 + e} }`;
    }).join('\n');
    docs.push(`apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: svc-${s} }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n  endpoints:\n${eps}`);
  }
  return `${docs.join('\n---\n')}\n`;
}

async function status(adminUrl, token, nodeId) {
  const res = await fetch(`${adminUrl}/v1/proxies`, { headers: { authorization: `Bearer ${token}` } });
  if (!res.ok) throw new Error(`GET /v1/proxies: ${res.status}`);
  const p = (await res.json()).items.find((i) => i.nodeId === nodeId);
  return p ? p.types : null;
}

async function wait(adminUrl, token, nodeId, before, types, timeoutS) {
  const end = Date.now() + timeoutS * 1000;
  let last = '';
  let since = 0;
  for (let i = 0; Date.now() < end && i < 10_000; i++) {
    const t = await status(adminUrl, token, nodeId);
    const done = t && types.every((k) => t[k]?.state === 'SYNCED' && t[k].ackedVersion && t[k].ackedVersion !== before?.[k]?.ackedVersion);
    const key = JSON.stringify(t);
    if (done && key === last) {
      if (Date.now() - since >= 1000) return { types: t, syncedAtMs: since };
    } else {
      last = key;
      since = Date.now();
    }
    await sleep(50);
  }
  throw new Error(`${nodeId}: ${types.join(',')} not synced after ${timeoutS}s: ${last}`);
}

async function clusters(admin, address) {
  const res = await fetch(`http://${admin}/clusters`);
  const body = await res.json();
  const list = Array.isArray(body) ? body : Object.values(body);
  const hosts = list.flatMap((c) => c.hosts ?? []);
  const found = address ? hosts.some((h) => `${h.address}` === address || `${h.address}:${h.port}` === address) : false;
  return `${list.length} ${hosts.length} ${found ? 1 : 0}`;
}

function get(port) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', headers: { host: 'upstream' }, agent: false, timeout: 1000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
  });
}

// One start: spawn, wait for the ready line, then GET every 5 ms until 200; then SIGTERM and wait
// for the exit. Every wait is bounded.
async function oneStart(argv, env, timeoutMs) {
  const t0 = performance.now();
  const child = spawn(argv[0], argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
  current = child;
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err = (err + d).slice(-4000)));
  const exited = new Promise((r) => child.once('exit', r));
  try {
    const ready = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ready line after ${timeoutMs} ms: ${out}${err}`)), timeoutMs);
      child.stdout.on('data', (d) => {
        out += d;
        const m = /ready id=\S+ outbound=[\d.]+:(\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve({ ms: performance.now() - t0, port: Number(m[1]) });
        }
      });
      child.once('exit', (c) => reject(new Error(`sidecar exited (${c}) before ready: ${err}`)));
    });
    let first = NaN;
    let attempts = 0;
    let lastStatus = 0;
    while (performance.now() - t0 < timeoutMs) {
      attempts++;
      lastStatus = await get(ready.port);
      if (lastStatus === 200) {
        first = performance.now() - t0;
        break;
      }
      await sleep(5);
    }
    if (Number.isNaN(first)) throw new Error(`no 200 through the outbound listener after ${timeoutMs} ms (last ${lastStatus})`);
    return { readyMs: Math.round(ready.ms * 10) / 10, first200Ms: Math.round(first * 10) / 10, attempts };
  } finally {
    child.kill('SIGTERM');
    const gone = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
    if (!gone) {
      child.kill('SIGKILL');
      await Promise.race([exited, sleep(2000)]);
    }
  }
}

let current; // the sidecar being timed, killed with this process
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => { current?.kill('SIGKILL'); process.exit(1); });

async function starts(n, tokenCmd, argv) {
  const runs = [];
  for (let i = 0; i < n; i++) {
    const token = execFileSync(tokenCmd[0], tokenCmd.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    runs.push(await oneStart(argv, { ...process.env, WEFT_JOIN_TOKEN: token, WEFT_LOG_LEVEL: 'warn' }, 60_000));
    await sleep(500); // let the control plane drop the instance before the next start
  }
  return runs;
}

try {
  switch (cmd) {
    case 'mesh':
      process.stdout.write(mesh(Number(args[0]), Number(args[1]), Number(args[2]), args[3] === '1'));
      break;
    case 'status':
      console.log(JSON.stringify(await status(args[0], args[1], args[2])));
      break;
    case 'wait':
      console.log(JSON.stringify(await wait(args[0], args[1], args[2], JSON.parse(args[3] || 'null')?.types, args[4].split(','), Number(args[5]))));
      break;
    case 'clusters':
      console.log(await clusters(args[0], args[1]));
      break;
    case 'starts': {
      const sep = args.indexOf('--');
      const sep2 = args.indexOf('--', sep + 1);
      if (sep < 0 || sep2 < 0) throw new Error('usage: starts N -- TOKEN_CMD... -- SIDECAR_ARGV...');
      const runs = await starts(Number(args[0]), args.slice(sep + 1, sep2), args.slice(sep2 + 1));
      const summary = (k) => {
        const xs = runs.map((r) => r[k]).sort((a, b) => a - b);
        const r1 = (x) => Math.round(x * 10) / 10;
        return { median: r1(xs[Math.floor((xs.length - 1) / 2)]), min: r1(xs[0]), max: r1(xs[xs.length - 1]) };
      };
      console.log(JSON.stringify({ n: runs.length, readyMs: summary('readyMs'), first200Ms: summary('first200Ms'), runs }));
      break;
    }
    default:
      throw new Error(`unknown subcommand: ${cmd}`);
  }
} catch (e) {
  process.stderr.write(`footprint.mjs ${cmd}: ${e.message}\n`);
  process.exit(1);
}
