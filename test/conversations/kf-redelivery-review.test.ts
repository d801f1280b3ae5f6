import { kfCustomerText } from '../../sandbox/state';
import { CONVERSATION_JOBS } from '../../src/conversations';
import { candidateOf, KF, startKfWorld, type KfWorld } from './support';

/**
 * Review of issue 9 (DECISIONS 2): a KF msgid already stored was always taken for a redelivery, so
 * a message WeCom (or anything answering as WeCom) sends again under a known msgid with other
 * content was dropped without a record. Now the item's digest decides: the same item is a
 * redelivery (one record), another is a new record linked to the first by `variant_of`.
 */

const CAND = 'wmCandWuHao0003';

describe('a KF msgid seen again', () => {
  let w: KfWorld;
  beforeEach(async () => {
    w = await startKfWorld();
  });
  afterEach(async () => {
    await w.close();
  });

  test('with the same item: one record; with another content: a second record naming the first', async () => {
    const mod = w.module();
    const sweep = async () => {
      const done = (await mod.jobs?.[CONVERSATION_JOBS.kfSweep]?.process({}, w.jobContext())) as { failed: unknown[] };
      expect(done.failed).toEqual([]);
    };
    const now = w.sandbox.state.nowSec();
    const first = kfCustomerText(KF, CAND, '我接受这个offer', now);
    w.sandbox.state.addKfMessage(KF, first);
    await sweep();
    // The same item again (a page served twice): a redelivery.
    w.sandbox.state.addKfMessage(KF, { ...first });
    await sweep();
    // The same msgid, other words.
    w.sandbox.state.addKfMessage(KF, { ...first, text: { content: '我不接受这个offer' } });
    await sweep();
    const cand = await candidateOf(w, CAND);
    const mine = await w.records("stream = $1 AND kind = 'conversation.message' AND payload->>'msgid' = $2", [
      `candidate:${cand}`,
      first.msgid,
    ]);
    expect(mine.map((r) => r.payload.text)).toEqual(['我接受这个offer', '我不接受这个offer']);
    expect(mine[1]?.payload.variant_of).toEqual({ seq: mine[0]?.seq, hash: mine[0]?.hash, source_ref: mine[0]?.source_ref });
    expect(mine[1]?.source_ref).toMatch(new RegExp(`^${mine[0]?.source_ref}#[0-9a-f]{16}$`));
  }, 60000);
});
