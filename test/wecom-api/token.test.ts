import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { Sandbox } from '../../sandbox/server';
import { secretFingerprint, WecomApiError, WecomConfigError } from '../../src/wecom/api';
import { REDIS_URL } from '../support/env';
import {
  admin,
  closeDeadRedis,
  connectRedis,
  deadRedis,
  deleteKeys,
  FakeTime,
  fault,
  KEYS,
  makeClient,
  memoryLogger,
  slowGettokenProxy,
  startSandbox,
  uniquePrefix,
} from './support/harness';

describe('WeCom access_token cache', () => {
  const prefix = uniquePrefix('token');
  let redis: Redis;
  let sb: Sandbox;

  beforeAll(() => {
    redis = connectRedis();
  });
  afterAll(async () => {
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });
  beforeEach(async () => {
    await deleteKeys(redis, prefix);
  });
  afterEach(async () => {
    await sb?.close();
  });

  test('is fetched once, stored in Redis under a sha256 of the secret, and reused', async () => {
    sb = await startSandbox();
    const client = makeClient(sb, redis, prefix);
    const a = await client.getAccessToken();
    const b = await client.getAccessToken();
    await client.contact.getUser('zhangmin');
    expect(a).toBe(b);
    expect(sb.state.stats.gettoken).toBe(1);

    const keys = await redis.keys(`${prefix}*`);
    const tokenKey = keys.find((k) => k.includes('}:token:'));
    expect(tokenKey).toContain(secretFingerprint(KEYS.secret));
    expect(keys.join(' ')).not.toContain(KEYS.secret);
    const stored = await redis.get(tokenKey ?? '');
    expect(stored).toContain(a);
    expect(stored).not.toContain(KEYS.secret);
  });

  test('a token that expires early on the server (42001) is dropped, refreshed once and the call retried', async () => {
    // The sandbox's clock runs ahead of the client's: WeCom considers the token expired while our
    // cache still thinks it has minutes left.
    const serverTime = new FakeTime(Date.now());
    sb = await startSandbox({ tokenTtlSeconds: 600, clock: serverTime.now });
    const client = makeClient(sb, redis, prefix);
    await client.contact.getUser('zhangmin');
    const first = await client.getAccessToken();

    serverTime.advance(601_000);
    const user = await client.contact.getUser('zhangmin');
    expect(user.userid).toBe('zhangmin');
    expect(sb.state.stats.calls['user/get']).toBe(3); // ok, 42001, retried ok
    expect(sb.state.stats.gettoken).toBe(2);
    const second = await client.getAccessToken();
    expect(second).not.toBe(first);
  });

  test('a token invalidated early (40014) is replaced, and no token or secret reaches the logs', async () => {
    sb = await startSandbox();
    const logger = memoryLogger();
    const client = makeClient(sb, redis, prefix, { logger });
    const old = await client.getAccessToken();
    await admin(sb, 'POST', 'tokens/invalidate', {});

    await expect(client.contact.getUser('wangfang')).resolves.toMatchObject({ userid: 'wangfang' });
    expect(sb.state.stats.gettoken).toBe(2);
    const fresh = await client.getAccessToken();
    expect(fresh).not.toBe(old);

    const logged = JSON.stringify(logger.lines);
    expect(logged).toContain('access_token');
    for (const secret of [old, fresh, KEYS.secret]) expect(logged).not.toContain(secret);
  });

  test('a second token error after the one refresh is thrown, not looped on', async () => {
    sb = await startSandbox();
    const client = makeClient(sb, redis, prefix);
    await client.getAccessToken();
    await fault(sb, 'user/get', 40014, 5);
    const err = await client.contact.getUser('zhangmin').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WecomApiError);
    expect(err).toMatchObject({ errcode: 40014, path: 'user/get' });
    expect((err as WecomApiError).hint).toMatch(/access_token/);
    expect(sb.state.stats.calls['user/get']).toBe(2);
    expect(sb.state.stats.gettoken).toBe(2);
  });

  test('drops the cached token only if it is still the one that failed', async () => {
    sb = await startSandbox();
    const p1 = makeClient(sb, redis, prefix);
    const p2 = makeClient(sb, redis, prefix);
    const t1 = await p1.getAccessToken();
    // p2 refreshes after an early invalidation; p1 then fails with the old token and must not delete p2's.
    await admin(sb, 'POST', 'tokens/invalidate', {});
    await p2.contact.getUser('zhangmin');
    const t2 = await p2.getAccessToken();
    expect(t2).not.toBe(t1);
    await p1.contact.getUser('zhangmin');
    expect(await p1.getAccessToken()).toBe(t2);
    expect(sb.state.stats.gettoken).toBe(2);
  });

  test('is refreshed ahead of expiry by one caller while the others keep using the valid one', async () => {
    const time = new FakeTime();
    sb = await startSandbox({ tokenTtlSeconds: 1000, clock: time.now });
    const client = makeClient(sb, redis, prefix, { now: time.now, sleep: time.sleep });
    const before = await client.getAccessToken();
    time.advance(950_000); // 50 s left: inside the last 10% of the lifetime
    const during = await Promise.all([client.getAccessToken(), client.getAccessToken(), client.contact.getUser('zhangmin')]);
    expect(during[0]).toBe(before);
    expect(sb.state.stats.gettoken).toBe(2); // one early refresh (WeCom hands back the same, still-valid token)
    time.advance(60_000); // now really expired on both sides
    const after = await client.getAccessToken();
    expect(after).not.toBe(before);
    expect(sb.state.stats.gettoken).toBe(3);
  });

  test('two separate OS processes needing a token at once make one gettoken call', async () => {
    sb = await startSandbox();
    // gettoken answers slowly, so the second process really arrives while the first holds the lock.
    const proxy = await slowGettokenProxy(sb.url, 400);
    try {
      const tsx = join(__dirname, '..', '..', 'node_modules', '.bin', 'tsx');
      const script = join(__dirname, 'support', 'token-process.ts');
      const children = [0, 1].map(() =>
        spawn(tsx, [script, proxy.url, REDIS_URL, prefix, '4'], { stdio: ['pipe', 'pipe', 'pipe'] }),
      );
      const outputs = children.map(
        (c) =>
          new Promise<string>((resolve, reject) => {
            let out = '';
            let err = '';
            c.stdout.on('data', (d: Buffer) => (out += d.toString()));
            c.stderr.on('data', (d: Buffer) => (err += d.toString()));
            c.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`child exited ${code}: ${err}`))));
          }),
      );
      const ready = children.map(
        (c) =>
          new Promise<void>((resolve) => {
            const onData = (d: Buffer): void => {
              if (d.toString().includes('ready')) {
                c.stdout.off('data', onData);
                resolve();
              }
            };
            c.stdout.on('data', onData);
          }),
      );
      await Promise.all(ready);
      for (const c of children) c.stdin.end('go\n');
      const results = (await Promise.all(outputs)).map(
        (o) => JSON.parse(o.trim().split('\n').pop() ?? '{}') as { tokens: string[]; users: string[] },
      );

      expect(sb.state.stats.gettoken).toBe(1);
      const tokens = new Set(results.flatMap((r) => r.tokens));
      expect(tokens.size).toBe(1);
      expect(results.flatMap((r) => r.users)).toEqual(Array(8).fill('zhangmin'));
    } finally {
      await proxy.close();
    }
  }, 60_000);

  test('two client instances with their own Redis connections share one gettoken', async () => {
    sb = await startSandbox();
    const proxy = await slowGettokenProxy(sb.url, 300);
    const r2 = connectRedis();
    try {
      const a = makeClient(proxy, redis, prefix);
      const b = makeClient(proxy, r2, prefix);
      const tokens = await Promise.all([
        ...Array.from({ length: 5 }, () => a.getAccessToken()),
        ...Array.from({ length: 5 }, () => b.getAccessToken()),
      ]);
      expect(new Set(tokens).size).toBe(1);
      expect(sb.state.stats.gettoken).toBe(1);
    } finally {
      r2.disconnect();
      await proxy.close();
    }
  });

  test('with Redis down the client still works and calls gettoken once for many calls', async () => {
    sb = await startSandbox();
    const dead = deadRedis();
    const logger = memoryLogger();
    try {
      const client = makeClient(sb, dead, prefix, { logger });
      const users = await Promise.all(
        ['zhangmin', 'chenjing', 'wangfang', 'liqiang', 'sunwei'].map((u) => client.contact.getUser(u)),
      );
      expect(users.map((u) => u.userid)).toEqual(['zhangmin', 'chenjing', 'wangfang', 'liqiang', 'sunwei']);
      await client.contact.getUser('zhaolei');
      await client.message.send(
        { touser: 'zhangmin', msgtype: 'text', text: { content: 'Redis 不在也能发' } },
        { idempotencyKey: 'redis-down-1' },
      );
      expect(sb.state.stats.gettoken).toBe(1);
      expect(logger.lines.some((l) => l.level === 'warn' && /redis unavailable/.test(l.msg ?? ''))).toBe(true);

      // 40014 while degraded: one refresh, still in-process.
      await admin(sb, 'POST', 'tokens/invalidate', {});
      await Promise.all([client.contact.getUser('zhangmin'), client.contact.getUser('chenjing')]);
      expect(sb.state.stats.gettoken).toBe(2);
    } finally {
      closeDeadRedis(dead);
    }
  });

  test('gettoken -1 is retried with back-off', async () => {
    sb = await startSandbox();
    const time = new FakeTime();
    const client = makeClient(sb, redis, prefix, { sleep: time.sleep });
    await fault(sb, 'gettoken', -1, 2);
    await expect(client.getAccessToken()).resolves.toEqual(expect.any(String));
    expect(sb.state.stats.gettoken).toBe(3);
    expect(time.sleeps).toHaveLength(2);
    expect(time.sleeps[1]).toBeGreaterThanOrEqual(time.sleeps[0] ?? 0); // exponential, with jitter in [50%, 100%)
  });

  test('wrong secret or CorpID are typed config errors, never retried, and remembered for a cool-down', async () => {
    sb = await startSandbox();
    const time = new FakeTime();
    const wrongSecret = makeClient(sb, redis, prefix, { secret: 'not-the-secret', now: time.now, sleep: time.sleep });
    const e1 = await wrongSecret.contact.getUser('zhangmin').catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(WecomConfigError);
    expect(e1).toMatchObject({ errcode: 40001, path: 'gettoken' });
    expect((e1 as WecomConfigError).hint).toMatch(/WECOM_SECRET/);
    await expect(wrongSecret.getAccessToken()).rejects.toBeInstanceOf(WecomConfigError);
    expect(sb.state.stats.gettoken).toBe(1);
    expect(time.sleeps).toHaveLength(0);
    time.advance(61_000);
    await expect(wrongSecret.getAccessToken()).rejects.toMatchObject({ errcode: 40001 });
    expect(sb.state.stats.gettoken).toBe(2);

    const wrongCorp = makeClient(sb, redis, prefix, { corpId: 'wwnotthiscorp' });
    await expect(wrongCorp.getAccessToken()).rejects.toMatchObject({ name: 'WecomConfigError', errcode: 40013 });
  });
});
