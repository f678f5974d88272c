// The network-namespace lab (test/harness/netns.ts) does what acceptance tests rely on: two hosts
// reach each other on their addresses (Host header set by the agent); the root namespace gains no
// address or interface and cannot reach the lab; linkDown cuts traffic both ways and linkUp
// restores it (decided by requests failing and succeeding, never by a sleep); load counts ok and
// failed requests by status and error code; kill -9 of a lab process; close() leaves no namespace
// and no process behind. Namespaces left by a crashed run are deleted by the next lab. (etcd across
// lab hosts, a partitioned member and quorum loss: test/e2e/replicas-netns.test.ts.)
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHosts, type Agent, type Host, type LabProcess, type Netlab } from '../../harness/netns.js';

const ipOut = (...args: string[]) => execFileSync('ip', args, { timeout: 10_000 }).toString();
const labNamespaces = (lab: Netlab) => ipOut('netns', 'list').split('\n').map((l) => l.split(' ')[0]).filter((n) => n && lab.namespaces.includes(n));

// A tiny server: answers with its name, the Host header it got, and ?status=N; prints "ready".
const SERVER = `
const http = require('node:http');
const s = http.createServer((req, res) => {
  const st = Number(new URL(req.url, 'http://x').searchParams.get('status') || 200);
  res.writeHead(st, { 'content-type': 'application/json', 'x-server': process.argv[1] });
  res.end(JSON.stringify({ server: process.argv[1], host: req.headers.host }));
});
s.listen(8080, '0.0.0.0', () => console.log('ready'));
`;

function startServer(h: Host): Promise<LabProcess> {
  const p = h.spawn(process.execPath, ['-e', SERVER, h.name]);
  return p.waitLine(/^ready$/, 10_000).then(() => p);
}

/** Retries `f` until it resolves, at most `tries` times and `ms` milliseconds. */
async function untilOk<T>(f: () => Promise<T>, tries: number, ms: number): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (let i = 0; i < tries && Date.now() < end; i++) {
    try {
      return await f();
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`still failing after ${tries} tries / ${ms} ms: ${String(last)}`);
}

describe('network-namespace lab', () => {
  let lab: Netlab;
  let a: Host;
  let b: Host;
  let agentA: Agent;
  let agentB: Agent;
  let rootAddrs: string;
  let rootLinks: string;

  beforeAll(async () => {
    rootAddrs = ipOut('-o', 'addr');
    rootLinks = ipOut('-o', 'link');
    lab = await createHosts(['a', 'b']);
    a = lab.host('a');
    b = lab.host('b');
    await Promise.all([startServer(a), startServer(b)]);
    [agentA, agentB] = await Promise.all([a.agent(), b.agent()]);
  });
  afterAll(async () => {
    await lab?.close();
  });

  it('gives every host its own address in one /24 and each namespace its loopback', async () => {
    expect(a.ip).toBe(`10.${lab.octet}.0.1`);
    expect(b.ip).toBe(`10.${lab.octet}.0.2`);
    expect(a.ns).not.toBe(b.ns);
    expect(a.ns.startsWith('wft')).toBe(true);
    const lo = await b.exec('ip', ['-o', 'addr', 'show', 'dev', 'lo']);
    expect(lo.stdout).toContain('127.0.0.1/8');
    const eth = await b.exec('ip', ['-o', 'addr', 'show', 'dev', 'eth0']);
    expect(eth.stdout).toContain(`${b.ip}/24`);
    // A process in the namespace can use loopback.
    expect(await agentB.tcpProbe({ host: '127.0.0.1', port: 8080, timeoutMs: 2000 })).toBe(true);
  });

  it('two hosts reach each other over their addresses, with the Host header the agent sets', async () => {
    const r = await agentA.http({ url: `http://${b.ip}:8080/x`, headers: { host: 'svc.example' }, timeoutMs: 5000 });
    expect(r.status).toBe(200);
    expect(r.headers['x-server']).toBe('b');
    expect(JSON.parse(r.body)).toEqual({ server: 'b', host: 'svc.example' });
    const back = await agentB.http({ url: `http://${a.ip}:8080/`, timeoutMs: 5000 });
    expect(JSON.parse(back.body)).toEqual({ server: 'a', host: `${a.ip}:8080` });
    expect(await agentA.tcpProbe({ host: b.ip, port: 8080 })).toBe(true);
    expect(await agentA.tcpProbe({ host: b.ip, port: 8081 })).toBe(false);
  });

  it('adds nothing to the root namespace, which cannot reach the lab', async () => {
    expect(ipOut('-o', 'addr')).toBe(rootAddrs);
    expect(ipOut('-o', 'link')).toBe(rootLinks);
    // No route to the lab is a lab interface: the root namespace has none.
    expect(ipOut('route', 'get', b.ip)).not.toMatch(/dev (br0|v\d+|eth0@)/);
    // A connect alone proves nothing here: this machine's default gateway accepts any TCP
    // connection (a proxy answering 404). What must never happen is an answer from the lab server.
    const reached = await new Promise<string>((res) => {
      const req = http.get({ host: b.ip, port: 8080, path: '/', timeout: 2000 }, (r) => {
        r.resume();
        r.on('error', () => {});
        res(`status ${r.statusCode} x-server ${String(r.headers['x-server'])}`);
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e) => res(`error ${e.message}`));
    });
    expect(reached).not.toContain('x-server b');
  });

  it('linkDown cuts the host off both ways; linkUp restores it', async () => {
    await b.linkDown();
    try {
      await expect(agentA.http({ url: `http://${b.ip}:8080/`, timeoutMs: 500 })).rejects.toThrow(/agent on a: /);
      await expect(agentB.http({ url: `http://${a.ip}:8080/`, timeoutMs: 500 })).rejects.toThrow(/agent on b: /);
      // b still reaches itself: the cut is the cable, not the host.
      expect((await agentB.http({ url: `http://${b.ip}:8080/`, timeoutMs: 2000 })).status).toBe(200);
    } finally {
      await b.linkUp();
    }
    const r = await untilOk(() => agentA.http({ url: `http://${b.ip}:8080/`, timeoutMs: 1000 }), 20, 10_000);
    expect(r.status).toBe(200);
    expect((await untilOk(() => agentB.http({ url: `http://${a.ip}:8080/`, timeoutMs: 1000 }), 20, 10_000)).status).toBe(200);
  });

  it('load counts ok and failed requests, never throwing', async () => {
    const good = await agentA.load({ url: `http://${b.ip}:8080/`, total: 200, concurrency: 8, timeoutMs: 5000 });
    expect(good).toMatchObject({ ok: 200, failed: 0, notSent: 0, statuses: { '200': 200 }, errors: {} });
    expect(good.p50Ms).toBeGreaterThan(0);
    expect(good.maxMs).toBeGreaterThanOrEqual(good.p50Ms);
    const bad = await agentA.load({ url: `http://${b.ip}:8080/?status=503`, total: 20, concurrency: 4 });
    expect(bad).toMatchObject({ ok: 0, failed: 20, statuses: { '503': 20 } });
    const refused = await agentA.load({ url: `http://${b.ip}:9/`, total: 10, concurrency: 2 });
    expect(refused).toMatchObject({ ok: 0, failed: 10, errors: { ECONNREFUSED: 10 } });
    // Bounded by time as well as count.
    const capped = await agentA.load({ url: `http://${b.ip}:8080/`, total: 1_000_000, concurrency: 2, durationMs: 200 });
    expect(capped.notSent).toBeGreaterThan(0);
    expect(capped.ok + capped.failed + capped.notSent).toBe(1_000_000);
    await expect(agentA.load({ url: 'https://x/', total: 1, concurrency: 1 })).rejects.toThrow(/only http: URLs/);
  });

  it('kill -9 ends a lab process', async () => {
    const p = a.spawn('sleep', ['30']);
    expect(p.running()).toBe(true);
    expect(p.kill('SIGKILL')).toBe(true);
    expect((await p.exited).signal).toBe('SIGKILL');
    const e = await a.exec('sh', ['-c', 'echo out; echo err >&2; exit 3']);
    expect(e).toMatchObject({ code: 3, stdout: 'out\n', stderr: 'err\n', timedOut: false });
    const slow = await a.exec('sleep', ['30'], { timeoutMs: 200 });
    expect(slow).toMatchObject({ code: null, timedOut: true });
  });

  it('close() kills every process and leaves no namespace behind; a second close() is a no-op', async () => {
    const p = b.spawn('sleep', ['30']);
    const nss = [...lab.namespaces];
    expect(labNamespaces(lab)).toEqual(expect.arrayContaining(nss));
    await lab.close();
    await lab.close();
    expect(p.running()).toBe(false);
    const left = ipOut('netns', 'list').split('\n').map((l) => l.split(' ')[0]);
    for (const ns of nss) expect(left).not.toContain(ns);
    expect(ipOut('-o', 'addr')).toBe(rootAddrs);
    expect(() => a.spawn('true', [])).toThrow(/closed/);
  });
});

describe('leftovers of a crashed run', () => {
  it('are deleted by the next createHosts: their creating pid is gone', async () => {
    // pid 2147483646 is above any pid_max: never alive.
    const stale = `wft${Math.random().toString(36).slice(2, 6).padEnd(4, '0')}-2147483646-h-x`;
    ipOut('netns', 'add', stale);
    try {
      expect(ipOut('netns', 'list')).toContain(stale);
      const lab = await createHosts(['solo']);
      await lab.close();
      expect(ipOut('netns', 'list')).not.toContain(stale);
    } finally {
      try {
        execFileSync('ip', ['netns', 'del', stale], { stdio: 'ignore' });
      } catch {
        /* deleted by the sweep */
      }
    }
  });
});
