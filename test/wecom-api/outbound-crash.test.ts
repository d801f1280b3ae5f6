/**
 * A sending process killed with SIGKILL between the intent and the outcome of a send: the ledger keeps the intent
 * with no outcome (a visible "outcome unknown", not nothing), and the job run again under the same idempotency key
 * adds no second intent and sends no second message — WeCom drops the copy (message/send's duplicate check,
 * kf/send_msg's msgid) — then records the outcome, linked to the first intent.
 *
 * The sender is its own OS process (support/send-process.ts). It reaches the sandbox through a proxy that can stop
 * the request before WeCom sees it, or let WeCom process it and hold the answer, and tells the test when it is
 * there, so the kill lands exactly in the window between intent and outcome.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { Sandbox } from '../../sandbox/server';
import { verifyLedger } from '../../src/evidence';
import { kfMsgIdFor } from '../../src/wecom/api';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { REDIS_URL } from '../support/env';
import { connectRedis, deleteKeys, forwardTo, startSandbox, startStub, uniquePrefix, type Stub } from './support/harness';

type Plan = 'pass' | 'kill-before-wecom' | 'kill-after-wecom';

interface Row {
  seq: string;
  hash: string;
  kind: string;
  source_ref: string;
  payload: { status?: string; intent?: { seq: number; hash: string }; result?: { msgid?: string } };
}

describe('a sender killed between intent and outcome', () => {
  const prefix = uniquePrefix('outbound-crash');
  let redis: Redis;
  let sb: Sandbox;
  let db: TestDatabase;
  let proxy: Stub;
  let plan: Plan = 'pass';
  let arrived: () => void = () => undefined;
  let release: () => void = () => undefined;

  beforeAll(async () => {
    redis = connectRedis();
    sb = await startSandbox();
    db = await createTestDatabase();
    proxy = await startStub(async (req) => {
      const isSend = req.path === '/cgi-bin/message/send' || req.path === '/cgi-bin/kf/send_msg';
      if (!isSend || plan === 'pass') return forwardTo(sb.url, req);
      const mode = plan;
      plan = 'pass';
      if (mode === 'kill-after-wecom') await forwardTo(sb.url, req);
      // WeCom has (or has not) processed the request; the sender now waits for an answer that never comes.
      const held = new Promise<void>((resolve) => (release = resolve));
      arrived();
      await held;
      return 'destroy';
    });
  });
  afterAll(async () => {
    release();
    await proxy.close();
    await db.drop();
    await sb.close();
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });

  function sender(apiBase: string, api: 'message' | 'kf', key: string): { child: ChildProcess; output: Promise<string> } {
    const script = join(__dirname, 'support', 'send-process.ts');
    const child = spawn(process.execPath, ['--import', 'tsx', script, apiBase, REDIS_URL, prefix, db.appUrl, api, key], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const output = new Promise<string>((resolve) => {
      let out = '';
      child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      child.on('exit', () => resolve(out));
    });
    return { child, output };
  }

  /** Runs the sender through the proxy with `mode` and kills it with SIGKILL once its request is held there. */
  async function killMidSend(mode: Plan, api: 'message' | 'kf', key: string): Promise<void> {
    plan = mode;
    const there = new Promise<void>((resolve) => (arrived = resolve));
    const { child, output } = sender(proxy.url, api, key);
    await there;
    child.kill('SIGKILL');
    await output;
    expect(child.signalCode).toBe('SIGKILL');
    release();
  }

  async function rerun(api: 'message' | 'kf', key: string): Promise<{ ok: boolean; msgid?: string }> {
    const { output } = sender(sb.url, api, key);
    return JSON.parse((await output).trim()) as { ok: boolean; msgid?: string };
  }

  const rows = async (key: string): Promise<Row[]> =>
    (
      await db.pool.query<Row>(
        `SELECT seq, hash, kind, source_ref, payload FROM evidence_records
          WHERE source = 'wecom.outbound' AND starts_with(source_ref, $1) ORDER BY seq`,
        [`${key}#`],
      )
    ).rows;

  test('message/send killed after WeCom delivered it: intent without outcome; the re-run sends nothing new', async () => {
    await killMidSend('kill-after-wecom', 'message', 'approval-reminder:1');
    expect((await rows('approval-reminder:1')).map((r) => r.source_ref)).toEqual(['approval-reminder:1#intent']);
    expect(sb.state.inbox('liqiang')).toHaveLength(1);
    const delivered = sb.state.inbox('liqiang')[0]?.msgid;

    const suppressed = sb.state.stats.duplicatesSuppressed;
    const res = await rerun('message', 'approval-reminder:1');
    expect(res).toEqual({ ok: true, msgid: delivered });
    expect(sb.state.inbox('liqiang')).toHaveLength(1);
    expect(sb.state.stats.duplicatesSuppressed).toBe(suppressed + 1);
    const all = await rows('approval-reminder:1');
    expect(all.map((r) => r.source_ref)).toEqual(['approval-reminder:1#intent', `approval-reminder:1#sent:${delivered}`]);
    expect(all[1]?.payload).toMatchObject({
      status: 'sent',
      intent: { seq: Number(all[0]?.seq), hash: all[0]?.hash },
      result: { msgid: delivered },
    });
  }, 60_000);

  test('message/send killed before the request reached WeCom: intent without outcome; the re-run sends it once', async () => {
    const before = sb.state.inbox('liqiang').length;
    await killMidSend('kill-before-wecom', 'message', 'approval-reminder:2');
    expect((await rows('approval-reminder:2')).map((r) => r.kind)).toEqual(['wecom.outbound.intent']);
    expect(sb.state.inbox('liqiang')).toHaveLength(before);

    const res = await rerun('message', 'approval-reminder:2');
    expect(res.ok).toBe(true);
    expect(sb.state.inbox('liqiang')).toHaveLength(before + 1);
    expect(sb.state.inbox('liqiang').at(-1)?.msgid).toBe(res.msgid);
    const all = await rows('approval-reminder:2');
    expect(all.map((r) => r.source_ref)).toEqual(['approval-reminder:2#intent', `approval-reminder:2#sent:${res.msgid}`]);
  }, 60_000);

  test('kf/send_msg killed after WeCom took it: intent without outcome; the re-run, same msgid, sends nothing new', async () => {
    await killMidSend('kill-after-wecom', 'kf', 'kf-followup-1');
    expect((await rows('kf-followup-1')).map((r) => r.source_ref)).toEqual(['kf-followup-1#intent']);
    expect(sb.state.kfSent.filter((s) => s.touser === 'wmCandChenChen0001')).toHaveLength(1);

    const res = await rerun('kf', 'kf-followup-1');
    expect(res).toEqual({ ok: true, msgid: kfMsgIdFor('kf-followup-1') });
    expect(sb.state.kfSent.filter((s) => s.touser === 'wmCandChenChen0001')).toHaveLength(1);
    const all = await rows('kf-followup-1');
    expect(all.map((r) => r.source_ref)).toEqual(['kf-followup-1#intent', 'kf-followup-1#sent:kf-followup-1']);
    expect(all[1]?.payload.intent).toEqual({ seq: Number(all[0]?.seq), hash: all[0]?.hash, source_ref: 'kf-followup-1#intent' });
  }, 60_000);

  test('the ledger verifies after the crashes', async () => {
    expect((await verifyLedger(db.pool)).ok).toBe(true);
  });
});
