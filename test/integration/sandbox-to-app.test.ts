import { Redis } from 'ioredis';
import { type Sandbox } from '../../sandbox/server';
import { DEMO_AGENT_ID, OFFER_TEMPLATE_ID, offerContents } from '../../sandbox/seed';
import { createLedger } from '../../src/evidence';
import { createLogger } from '../../src/observability/logger';
import { createWecomClient } from '../../src/wecom/api';
import { startApp, startSandboxFor, type RunningApp } from '../support/app';
import { REDIS_URL } from '../support/env';

/**
 * The sandbox delivering to the real app over HTTP, with WeCom's own signatures and encryption:
 * what the app stores, and what happens when it answers too slowly and WeCom redelivers.
 */
describe('sandbox → app callbacks', () => {
  let app: RunningApp;
  let sandbox: Sandbox;

  beforeEach(async () => {
    app = await startApp({ WECOM_AGENT_ID: String(DEMO_AGENT_ID) });
    sandbox = await startSandboxFor(app, {
      // Short enough to see a redelivery quickly, long enough for a loaded 2-core CI machine.
      callbackTimeoutMs: 1500,
    });
  });
  afterEach(async () => {
    await sandbox.close();
    await app.stop();
  });

  async function records(): Promise<{ kind: string; stream: string; source_ref: string }[]> {
    const { rows } = await app.db.pool.query('SELECT kind, stream, source_ref FROM evidence_records ORDER BY seq');
    return rows;
  }

  test('every kind of callback the sandbox sends is accepted and stored once, under its stream', async () => {
    const a = sandbox.actions;
    const text = a.memberSendsText('zhangmin', '候选人陈晨说已经辞职了');
    await text.delivered;
    await a.kfInbound({ external_userid: 'wmCandChenChen0001', content: '我再考虑一下' }).delivered;
    await a.externalContactChange({
      change_type: 'add_external_contact',
      userid: 'zhangmin',
      external_userid: 'wmCandChenChen0001',
    }).delivered;

    // An approval submitted through our client, then approved by the manager in "WeCom".
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    try {
      const wecom = createWecomClient({
        apiBase: sandbox.url,
        corpId: app.keys.corpId,
        secret: app.config.WECOM_SECRET,
        agentId: DEMO_AGENT_ID,
        redis,
        logger: createLogger('silent', 't'),
        // Required by the client; this test sends no message to a person, so nothing is appended.
        ledger: createLedger({ pool: app.db.appPool }),
        options: { keyPrefix: `${app.config.QUEUE_PREFIX}:wecom:` },
      });
      const { sp_no: spNo } = await wecom.oa.applyEvent({
        creator_userid: 'zhangmin',
        template_id: OFFER_TEMPLATE_ID,
        use_template_approver: 1,
        apply_data: { contents: offerContents('陈晨', '前端开发工程师', '25000', 1798732800) },
      });
      await sandbox.idle();
      const detail = await wecom.oa.getApprovalDetail(spNo);
      const approvers = (detail.info.sp_record ?? []).flatMap((r) => r.details.map((d) => d.approver.userid));
      await a.approve(spNo, approvers[0] ?? 'liqiang').delivered;
      await sandbox.idle();

      const rows = await records();
      expect(rows.map((r) => r.kind)).toEqual([
        'wecom.callback.message.text',
        'wecom.callback.event.kf_msg_or_event',
        'wecom.callback.event.change_external_contact',
        'wecom.callback.event.sys_approval_change',
        'wecom.callback.event.sys_approval_change',
      ]);
      expect(rows[0]?.source_ref).toBe(`${app.keys.corpId}:msg:${text.result.msgId}`);
      // The contact by its opaque id, never its external_userid (DECISIONS 4).
      expect(rows[2]?.stream).toMatch(/^wecom:contact:xc_[0-9a-f]{32}$/);
      expect(JSON.stringify(rows[2])).not.toContain('wmCandChenChen0001');
      expect(rows.slice(3).map((r) => r.stream)).toEqual([`wecom:approval:${spNo}`, `wecom:approval:${spNo}`]);
      for (const cb of sandbox.state.callbacks) expect(cb.attempts.map((t) => t.status)).toEqual([200]);
    } finally {
      redis.disconnect();
    }
  });

  test('a callback the app answers too slowly is redelivered by WeCom and still stored once', async () => {
    // Make the app slow the realistic way: its database is busy (the ledger lock is held).
    const blocker = await app.db.pool.connect();
    await blocker.query('BEGIN');
    await blocker.query('SELECT * FROM evidence_counter FOR UPDATE');
    const fired = sandbox.actions.memberSendsText('zhangmin', '你肯定被录用了，可以先辞职');
    try {
      // Wait until WeCom has given up on the first attempt (timeout) and tried again.
      for (let i = 0; i < 100 && fired.callback.attempts.length < 2; i++) await new Promise((r) => setTimeout(r, 50));
      expect(fired.callback.attempts.length).toBeGreaterThanOrEqual(2);
    } finally {
      await blocker.query('COMMIT');
      blocker.release();
    }
    const done = await fired.delivered;
    expect(done.status).toBe('delivered');
    expect(done.attempts[0]?.status).not.toBe(200);
    // Give the first (abandoned) request time to finish its commit.
    await app.app.ledger.close();
    const rows = await records();
    expect(rows).toHaveLength(1);
    expect(rows[0]?.source_ref).toBe(`${app.keys.corpId}:msg:${fired.result.msgId}`);
    const { rows: red } = await app.db.pool.query('SELECT deliveries FROM evidence_redeliveries');
    expect(red[0]?.deliveries).toBe(done.attempts.length);
  });
});
