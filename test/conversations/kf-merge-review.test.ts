import { kfCustomerText } from '../../sandbox/state';
import { addIdentifier, candidateStreams, createCandidateByRecruiter } from '../../src/candidates';
import { CONVERSATION_JOBS } from '../../src/conversations';
import { candidateOf, KF, startKfWorld, type KfWorld } from './support';

/**
 * Review of issue 9 (gap b): a KF conversation of a candidate who is later found to be a
 * re-applicant (merged into the earlier candidate): what was pulled before stays where it was
 * recorded (never rewritten), what is pulled after lands on the surviving candidate's stream, and
 * the person's streams name both, so the timeline holds the whole conversation.
 */

const CAND = 'wmCandWuHao0003';
const OLD = 'wmOldApplicant000001';

describe('KF pull and merged candidates', () => {
  let w: KfWorld;
  beforeEach(async () => {
    w = await startKfWorld();
  });
  afterEach(async () => {
    await w.close();
  });

  test('messages pulled after a merge land on the surviving candidate; earlier ones stay, never rewritten', async () => {
    const corpId = w.app.keys.corpId;
    const deps = { transact: w.ledger.transact.bind(w.ledger), hmacKey: undefined };
    // The person applied before, under another WeChat account: the earlier candidate.
    const earlier = await createCandidateByRecruiter(deps, { corpId, recruiter: 'ZhangSan', externalUserId: OLD });
    const mod = w.module();
    const sweep = async () => {
      const done = (await mod.jobs?.[CONVERSATION_JOBS.kfSweep]?.process({}, w.jobContext())) as { failed: unknown[] };
      expect(done.failed).toEqual([]);
    };
    const now = w.sandbox.state.nowSec();
    w.sandbox.state.addKfMessage(KF, kfCustomerText(KF, CAND, '合并前的消息', now));
    await sweep();
    const later = await candidateOf(w, CAND);
    expect(later).not.toBe(earlier.candidate.candidateId);
    const before = await w.records("kind = 'conversation.message' AND payload->>'text' = '合并前的消息'");
    expect(before.map((r) => r.stream)).toEqual([`candidate:${later}`]);

    // A recruiter finds CAND is the same person: merged into the earlier candidate.
    const merged = await addIdentifier(deps, {
      corpId,
      candidateId: earlier.candidate.candidateId,
      enteredBy: 'zhangsan',
      input: { kind: 'external_userid', value: CAND },
    });
    expect(merged).toEqual(expect.objectContaining({ status: 'merged', mergedFrom: later }));
    expect(await candidateOf(w, CAND)).toBe(earlier.candidate.candidateId);

    w.sandbox.state.addKfMessage(KF, kfCustomerText(KF, CAND, '合并后的消息', now + 1));
    await sweep();
    const after = await w.records("kind = 'conversation.message' AND payload->>'text' = '合并后的消息'");
    expect(after.map((r) => [r.stream, r.actor, r.payload.candidate_id])).toEqual([
      [`candidate:${earlier.candidate.candidateId}`, earlier.candidate.candidateId, earlier.candidate.candidateId],
    ]);
    // The earlier record is untouched, and the person's streams hold both.
    expect(await w.records("kind = 'conversation.message' AND payload->>'text' = '合并前的消息'")).toEqual(before);
    expect(await candidateStreams(w.app.db.appPool, corpId, later)).toEqual([
      `candidate:${earlier.candidate.candidateId}`,
      `candidate:${later}`,
    ]);
  }, 60000);
});
