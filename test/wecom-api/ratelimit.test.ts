import type { Redis } from 'ioredis';
import type { Sandbox } from '../../sandbox/server';
import { RateLimitedError, type MessageSendRequest, type WecomClient } from '../../src/wecom/api';
import {
  closeDeadRedis,
  connectRedis,
  deadRedis,
  deleteKeys,
  FakeTime,
  makeClient,
  startSandbox,
  uniquePrefix,
} from './support/harness';

const text = (touser: string, n: number): MessageSendRequest => ({ touser, msgtype: 'text', text: { content: `提醒 ${n}` } });

describe('per-member message/send limits (30/min, 1000/hour per member, shared through Redis)', () => {
  let redis: Redis;
  let sb: Sandbox;
  let time: FakeTime;
  let prefix: string;

  beforeAll(() => {
    redis = connectRedis();
  });
  afterAll(() => {
    redis.disconnect();
  });
  beforeEach(async () => {
    time = new FakeTime();
    prefix = uniquePrefix('ratelimit');
    // The sandbox enforces WeCom's limits on the same clock, and silently drops what exceeds them.
    sb = await startSandbox({ clock: time.now });
  });
  afterEach(async () => {
    await sb.close();
    await deleteKeys(redis, prefix);
  });

  const client = (over: Parameters<typeof makeClient>[3] = {}, r: Redis = redis): WecomClient =>
    makeClient(sb, r, prefix, { now: time.now, sleep: time.sleep, ...over });

  async function sendMany(c: WecomClient, touser: string, count: number, from = 0): Promise<void> {
    for (let i = 0; i < count; i += 1)
      await c.message.send(text(touser, from + i), { idempotencyKey: `rl-${touser}-${from + i}` });
  }

  test('the 31st message within a minute is refused locally instead of being silently dropped by WeCom', async () => {
    const c = client();
    await sendMany(c, 'zhangmin', 30);
    const err = await c.message.send(text('zhangmin', 31), { idempotencyKey: 'rl-31' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitedError);
    expect(err).toMatchObject({ scope: 'member', userids: ['zhangmin'], retryAfterMs: 60_000 });
    expect(sb.state.inbox('zhangmin')).toHaveLength(30);
    expect(sb.state.droppedMessages).toHaveLength(0);
    expect(sb.state.stats.calls['message/send']).toBe(30);

    time.advance(60_000);
    await c.message.send(text('zhangmin', 32), { idempotencyKey: 'rl-32' });
    expect(sb.state.inbox('zhangmin')).toHaveLength(31);
    expect(sb.state.droppedMessages).toHaveLength(0);
  });

  test('a slot that frees within the wait budget is waited for, then the message goes out', async () => {
    const c = client({ options: { keyPrefix: prefix, memberLimitMaxWaitMs: 10_000 } });
    await sendMany(c, 'zhangmin', 30);
    time.advance(55_000);
    await c.message.send(text('zhangmin', 31), { idempotencyKey: 'rl-wait' });
    expect(time.sleeps).toEqual([5_000]);
    expect(sb.state.inbox('zhangmin')).toHaveLength(31);
    expect(sb.state.droppedMessages).toHaveLength(0);
  });

  test('the limit is shared by clients with separate Redis connections (as separate processes are)', async () => {
    const r2 = connectRedis();
    try {
      const a = client();
      const b = client({}, r2);
      await sendMany(a, 'chenjing', 15);
      await sendMany(b, 'chenjing', 15, 15);
      await expect(b.message.send(text('ChenJing', 99), { idempotencyKey: 'rl-shared' })).rejects.toMatchObject({
        name: 'RateLimitedError',
        userids: ['chenjing'],
      });
      await expect(a.message.send(text('chenjing', 98), { idempotencyKey: 'rl-shared-2' })).rejects.toBeInstanceOf(
        RateLimitedError,
      );
      expect(sb.state.inbox('chenjing')).toHaveLength(30);
    } finally {
      r2.disconnect();
    }
  });

  test('a message to several members goes out only when all of them have room, and names who has none', async () => {
    const c = client();
    await sendMany(c, 'wangfang', 30);
    const err = await c.message.send(text('liqiang|wangfang', 1), { idempotencyKey: 'rl-multi' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'RateLimitedError', userids: ['wangfang'] });
    // liqiang's window was not charged for the refused message
    await sendMany(c, 'liqiang', 30);
    expect(sb.state.inbox('liqiang')).toHaveLength(30);
    expect(sb.state.droppedMessages).toHaveLength(0);
  });

  test('the hourly limit counts over a sliding hour (small limits configured)', async () => {
    const c = client({ options: { keyPrefix: prefix, memberLimits: { perMinute: 3, perHour: 5 } } });
    await sendMany(c, 'sunwei', 3);
    await expect(c.message.send(text('sunwei', 3), { idempotencyKey: 'h-3' })).rejects.toMatchObject({ retryAfterMs: 60_000 });
    time.advance(60_000);
    await sendMany(c, 'sunwei', 2, 4);
    time.advance(60_000);
    const err = (await c.message.send(text('sunwei', 9), { idempotencyKey: 'h-9' }).catch((e: unknown) => e)) as RateLimitedError;
    expect(err).toBeInstanceOf(RateLimitedError);
    // the oldest of the 5 leaves the hour window 3600 s after it was sent, 120 s ago
    expect(err.retryAfterMs).toBe(3_600_000 - 120_000);
    time.advance(err.retryAfterMs);
    await c.message.send(text('sunwei', 10), { idempotencyKey: 'h-10' });
    expect(sb.state.inbox('sunwei')).toHaveLength(6);
  });

  test('with Redis down the limit is still enforced within the process', async () => {
    const dead = deadRedis();
    try {
      const c = client({}, dead);
      await sendMany(c, 'zhaolei', 30);
      await expect(c.message.send(text('zhaolei', 30), { idempotencyKey: 'rl-dead' })).rejects.toMatchObject({
        name: 'RateLimitedError',
        retryAfterMs: 60_000,
      });
      expect(sb.state.droppedMessages).toHaveLength(0);
    } finally {
      closeDeadRedis(dead);
    }
  });
});
