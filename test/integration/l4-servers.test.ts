// The layer-4 test servers (test/harness/l4-servers.ts) checked directly, without Weft: each real
// Debian server starts on its own loopback port, answers its own client, and is gone after stop().
// The mesh tests of issue 21 (test/e2e/tcp-services.test.ts) and bench/weft-tcp.sh rely on them;
// this file says whether a failure there is the mesh's or the harness's.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  connectionLoad, freePort, greet, lineClient, parseRedisBenchmark, psql, redisBenchmark, redisCli, redisPing, startGreeter, startPostgres, startRedis, tcpExchange,
  L4HarnessError, type L4Server, type StartOptions,
} from '../harness/l4-servers.js';

/** Whether anything accepts connections on 127.0.0.1:port now. */
const listening = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
  });

describe('layer-4 test servers, reached directly', () => {
  it('redis-server: PONG from redis-cli, a small redis-benchmark, gone after stop()', async () => {
    const redis = await startRedis();
    try {
      expect(await redisPing(redis.port)).toBe('PONG');
      const set = await redisCli(redis.port, ['set', 'k', 'v']);
      expect(set.stdout.trim(), set.stderr).toBe('OK');
      const rps = await redisBenchmark(redis.port, { requests: 2000, clients: 4, timeoutMs: 8000 });
      expect(Object.keys(rps).sort()).toEqual(['GET', 'PING_INLINE', 'PING_MBULK', 'SET']);
      for (const v of Object.values(rps)) expect(v).toBeGreaterThan(0);
      // A bounded load of new connections, one INCR each: every one answered, and counted once.
      const load = await connectionLoad(redis.port, { total: 60, concurrency: 4, command: 'INCR conns', expect: /^:\d+$/, timeoutMs: 5000 });
      expect(load).toMatchObject({ sent: 60, ok: 60, failures: {} });
      expect(await redisPing(redis.port)).toBe('PONG');
      expect((await redisCli(redis.port, ['get', 'conns'])).stdout.trim()).toBe('60');
    } finally {
      await redis.stop();
    }
    expect(await listening(redis.port)).toBe(false);
    await redis.stop(); // idempotent
  }, 10_000);

  it('redis helpers fail loudly: no PONG and no benchmark figures from a server that closes every connection', async () => {
    const closer = net.createServer((s) => {
      s.on('error', () => undefined);
      s.destroy();
    });
    await new Promise<void>((r) => closer.listen(0, '127.0.0.1', r));
    const port = (closer.address() as net.AddressInfo).port;
    try {
      await expect(redisPing(port, { timeoutMs: 3000 })).rejects.toThrow(L4HarnessError);
      await expect(redisBenchmark(port, { requests: 100, clients: 2, timeoutMs: 3000 })).rejects.toThrow(/redis-benchmark/);
      const load = await connectionLoad(port, { total: 10, concurrency: 2, command: 'PING', expect: /^\+PONG$/, timeoutMs: 5000 });
      expect(load.ok).toBe(0);
      expect(Object.values(load.failures).reduce((a, b) => a + b, 0)).toBe(10);
      const probe = await tcpExchange(port, 'PING\r\n', { timeoutMs: 3000 });
      expect(probe.closedByPeer).toBe(true);
      expect(probe.data).toBe('');
    } finally {
      closer.close();
    }
    // Output with an error line, or a missing test, gives no figures either.
    expect(() => parseRedisBenchmark('PING_INLINE: 100.00 requests per second\nError: Connection reset by peer\n', ['ping'])).toThrow(/errors/);
    expect(() => parseRedisBenchmark('PING_INLINE: 100.00 requests per second\n', ['ping'])).toThrow(/PING_MBULK/);
  }, 10_000);

  it('PostgreSQL: psql select 1 over 127.0.0.1 as a non-root server, gone after stop()', async () => {
    const pg = await startPostgres();
    try {
      expect(await psql(pg.port, 'select 1')).toBe('1');
      expect(await psql(pg.port, 'select current_user, inet_server_addr()')).toBe('postgres|127.0.0.1');
      await expect(psql(pg.port, 'select * from no_such_table')).rejects.toThrow(/no_such_table/);
      // postgres refuses root: as root the harness runs it as another user, and it really runs so.
      const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pg.pid}/status`, 'utf8'))?.[1]);
      if (process.getuid?.() === 0) expect(uid, `postgres runs as ${pg.osUser}`).not.toBe(0);
    } finally {
      await pg.stop();
    }
    expect(await listening(pg.port)).toBe(false);
  }, 10_000);

  it('greeter: the greeting arrives before the client sends a byte; HELO, unknown lines, QUIT', async () => {
    const g = await startGreeter();
    try {
      const x = await greet(g.port, 'tester');
      expect(x).toEqual({ greeting: '220 weft-greeter ready', bytesSentBeforeGreeting: 0, hello: '250 hello tester', bye: '221 bye' });
      const c = await lineClient(g.port);
      try {
        expect(await c.readLine()).toBe('220 weft-greeter ready');
        expect(await c.command('NOOP now')).toBe('500 NOOP now');
      } finally {
        c.close();
      }
    } finally {
      await g.stop();
    }
    expect(await listening(g.port)).toBe(false);
    await g.kill(); // after stop(): a no-op
  }, 10_000);

  it('a port taken between finding it and starting the server: each server starts on the next one', async () => {
    // The race made certain: the first port handed out is taken, by a plain listener, and for
    // redis-server by another Redis, which answers PING as ours would.
    const squatter = net.createServer();
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
    const taken = (squatter.address() as net.AddressInfo).port;
    const otherRedis = await startRedis();
    const started: L4Server[] = [];
    try {
      const starts: Array<[string, number, (o: StartOptions) => Promise<L4Server>]> = [['redis', otherRedis.port, startRedis], ['greeter', taken, startGreeter], ['postgres', taken, startPostgres]];
      await Promise.all(starts.map(async ([name, first, start]) => {
        let handed = 0;
        const s = await start({ portSource: () => (handed++ === 0 ? Promise.resolve(first) : freePort()) });
        started.push(s);
        expect(handed, name).toBe(2);
        expect(s.port, name).not.toBe(first);
      }));
      const by = (n: string) => started.find((s) => s.name === n)!;
      expect(await redisPing(by('redis-server').port)).toBe('PONG');
      expect((await greet(by('greeter').port, 'retry')).hello).toBe('250 hello retry');
      expect(await psql(by('postgres').port, 'select 1')).toBe('1');
    } finally {
      await Promise.all([...started, otherRedis].map((s) => s.stop()));
      squatter.close();
    }
  }, 10_000);
});
