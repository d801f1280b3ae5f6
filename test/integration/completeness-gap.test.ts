import { kfCustomerText } from '../../sandbox/state';
import { createCandidateDirectory } from '../../src/candidates';
import { CONVERSATION_JOBS } from '../../src/conversations';
import { completenessReport, readTimeline, resolveCandidate } from '../../src/timeline';
import { candidateOf, KF, startKfWorld, type KfWorld } from '../conversations/support';

/**
 * Issue 9 item 5 with the real channel: the sandbox refuses a sync_msg page, the KF pull records the
 * gap, and the candidate's completeness report names it (seq, hash, cursor) and is not complete;
 * once WeCom answers again the pull closes the gap and the report says so. The timeline of the same
 * candidate re-verifies link by link.
 */

const CAND = 'wmCandWuHao0003';

describe('completeness report with the real KF channel', () => {
  let w: KfWorld;
  beforeEach(async () => {
    w = await startKfWorld();
  });
  afterEach(() => w.close());

  test('a page the sandbox refuses is a gap the report names; pulled later, the gap is closed', async () => {
    const now = w.sandbox.state.nowSec();
    const ids = [1, 2, 3, 4].map((i) => w.sandbox.state.addKfMessage(KF, kfCustomerText(KF, CAND, `消息${i}`, now)).msg.msgid);
    await w.admin('kf/page-faults', { open_kfid: KF, after_msgid: ids[1], errcode: -1, count: 1000 });
    const mod = w.module({ pageLimit: 2 });
    const sweep = mod.jobs?.[CONVERSATION_JOBS.kfSweep];
    expect(await sweep?.process({}, w.jobContext())).toEqual(expect.objectContaining({ failed: [KF] }));

    const directory = createCandidateDirectory(w.app.db.appPool);
    const candidate = await resolveCandidate(directory, w.app.keys.corpId, CAND);
    expect(candidate?.candidateId).toBe(await candidateOf(w, CAND));
    if (!candidate) throw new Error('no candidate');
    const channels = { kf: { state: 'on' as const }, archive: { state: 'on' as const } };
    const [gap] = await w.records("kind = 'conversation.gap'");

    const open = await completenessReport(w.app.db.appPool, candidate, { channels, verify: true });
    expect(open.complete).toBe(false);
    const gaps = open.issues.filter((i) => i.type === 'gap');
    expect(gaps).toEqual([
      expect.objectContaining({ channel: 'kf', scope: 'account', seq: Number(gap?.seq), hash: gap?.hash, closed_by: null }),
    ]);
    expect(gaps[0]?.detail).toEqual(expect.objectContaining({ reason: 'errcode_-1', open_kfid: KF }));

    // WeCom answers again: the pull stores the rest and closes the gap; the report shows it closed.
    await w.admin('kf/page-faults', undefined, 'DELETE');
    expect(await sweep?.process({}, w.jobContext())).toEqual(expect.objectContaining({ failed: [] }));
    const [closed] = await w.records("kind = 'conversation.gap_closed'");
    const after = await completenessReport(w.app.db.appPool, candidate, { channels, verify: true });
    expect(after.issues.filter((i) => i.type === 'gap')).toEqual([
      expect.objectContaining({ seq: Number(gap?.seq), closed_by: { seq: Number(closed?.seq), hash: closed?.hash } }),
    ]);
    expect(after.complete).toBe(true);

    // The timeline holds every message once, in order, and re-verifies.
    const page = await readTimeline(w.app.db.appPool, candidate, { verify: true, limit: 100 });
    expect(page.verification?.ok).toBe(true);
    const texts = page.entries.filter((e) => e.kind === 'conversation.message').map((e) => e.summary);
    expect(texts.filter((t) => /消息\d/.test(t))).toHaveLength(4);
  }, 60000);
});
