import { APPROVAL_KINDS } from '../../src/approvals';
import { CANDIDATE_STREAMS } from '../../src/candidates';
import { createLogger } from '../../src/observability/logger';
import { RECRUITER, draftedOffer, records, sandboxAdmin, startIdleWorld, until, type IdleWorld } from '../reminders/idle-support';

/**
 * approval.node_reached (issue 10 item 6, "approval idle"): the approvals module records where an
 * offer's WeCom approval waits, from the sys_approval_change callbacks (提单, each node-level 同意)
 * and from reconciliation when a callback was lost; once per (SpNo, node, step) however often it is
 * told. Real PostgreSQL, Redis, worker runtime and the sandbox's approvals app over HTTP.
 */

const log = createLogger('silent', 'approvals-idle-test');

describe('approval.node_reached', () => {
  let w: IdleWorld | undefined;
  afterEach(async () => {
    await w?.stop();
    w = undefined;
  });

  test('from the callbacks: filed → the first node; the first approver approves → the second; a dropped callback healed by reconciliation, once', async () => {
    w = await startIdleWorld();
    const world = w;
    const v = await draftedOffer(world, { baseMonthlyYuan: 36000 });
    await world.offers.offers.submitForApproval({ ...v, actor: RECRUITER });
    let spNo = '';
    await until('SpNo bound', async () => {
      spNo = (await world.offers.offers.getOffer(v))?.versions[0]?.approvalSpNo ?? '';
      return spNo !== '';
    });
    const stream = CANDIDATE_STREAMS.candidate(v.candidateId);
    const reached = async () =>
      (await records(world, stream, APPROVAL_KINDS.nodeReached)).map((r): Record<string, unknown> => ({
        ref: r.source_ref,
        ...r.payload,
      }));
    await until('the first node recorded', async () => (await reached()).length === 1);
    const [first] = await reached();
    expect(first).toMatchObject({
      ref: `approval:${spNo}:node:0.0`,
      offer_id: v.offerId,
      version: 1,
      sp_no: spNo,
      node_index: 0,
      node_step: 0,
      approvers: ['liqiang'],
      applicant: RECRUITER,
      hrbps: ['wangfang'],
      via: 'callback',
    });
    const apply = world.sandbox.state.approvals.get(spNo)!.apply_time;
    expect(first!['reached_at']).toBe(new Date(apply * 1000).toISOString());

    // Above the band: 用人经理 → HRBP → 部门负责人. The first approves; the callback says the HRBP is next.
    await sandboxAdmin(world, `approvals/${spNo}/approve`, { userid: 'liqiang', wait: true });
    await until('the second node recorded', async () => (await reached()).length === 2);
    const second = (await reached())[1]!;
    expect(second).toMatchObject({ node_index: 1, node_step: 0, approvers: ['wangfang'], via: 'callback' });
    const acted = world.sandbox.state.approvals.get(spNo)!.nodes[0]!.entries[0]!.sptime;
    expect(second['reached_at']).toBe(new Date(acted * 1000).toISOString());

    // The HRBP approves and WeCom's callback is lost: reconciliation reads the approval and records the third node.
    await sandboxAdmin(world, `approvals/${spNo}/approve`, { userid: 'wangfang', drop_callback: true, wait: true });
    await new Promise((r) => setTimeout(r, 500));
    expect(await reached()).toHaveLength(2);
    await world.approvals.reconcile(world.corpId, log);
    const healed = await reached();
    expect(healed).toHaveLength(3);
    expect(healed[2]).toMatchObject({
      ref: `approval:${spNo}:node:2.0`,
      approvers: ['chenjing'],
      via: 'reconciliation',
      callback_seq: null,
    });
    // Read again (reconciliation again, a redelivered callback's state): nothing more.
    await world.approvals.reconcile(world.corpId, log);
    expect(await reached()).toHaveLength(3);
    // The last approver approves: the approval ends, no node is reached.
    await sandboxAdmin(world, `approvals/${spNo}/approve`, { userid: 'chenjing', wait: true });
    await until('offer approved', async () => (await world.offers.offers.getOffer(v))?.state === 'approved');
    await world.approvals.reconcile(world.corpId, log);
    expect(await reached()).toHaveLength(3);
  }, 60_000);
});
