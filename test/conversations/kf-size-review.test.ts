import { CONVERSATION_JOBS } from '../../src/conversations';
import { RESPONSE_TOO_LARGE, WecomNetworkError } from '../../src/wecom/api/errors';
import { kfCustomerText } from '../../sandbox/state';
import { KF, startKfWorld, type KfWorld } from './support';

/**
 * Review of issue 9: answers of any size were read whole into memory. A sync_msg page or a media
 * file far over the caps (a hostile or broken answer, a 2 GB video) filled the worker's heap before
 * any cap was looked at. Now the client cuts an answer off while it arrives; a page that is too
 * large is asked again for fewer messages, media over MEDIA_MAX_BYTES is refused without being held.
 */

const CAND = 'wmCandWuHao0003';

describe('answers larger than HireLedger takes', () => {
  let w: KfWorld;
  beforeEach(async () => {
    w = await startKfWorld();
  });
  afterEach(async () => {
    await w.close();
  });

  test('media/get over the cap is cut off while it arrives, never retried', async () => {
    const png = Buffer.alloc(200 * 1024, 7);
    const sent = (await w.admin('kf/media-messages', {
      external_userid: CAND,
      msgtype: 'image',
      filename: 'big.png',
      content_type: 'image/png',
      base64: png.toString('base64'),
      wait: true,
    })) as { media_id?: string; result?: { media_id?: string } };
    const mediaId = sent.result?.media_id ?? sent.media_id;
    if (!mediaId) throw new Error(`no media_id in ${JSON.stringify(sent).slice(0, 200)}`);
    const err = await w.wecom.media.get(mediaId, { maxBytes: 100 * 1024 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WecomNetworkError);
    expect((err as WecomNetworkError).code).toBe(RESPONSE_TOO_LARGE);
    // Within the cap it arrives whole.
    expect((await w.wecom.media.get(mediaId, { maxBytes: png.length })).data.equals(png)).toBe(true);
  });

  test('a sync_msg page over the size cap is asked again for fewer messages: all stored, no gap', async () => {
    const now = w.sandbox.state.nowSec();
    for (let i = 0; i < 12; i++) w.sandbox.state.addKfMessage(KF, kfCustomerText(KF, CAND, `${i}:${'长'.repeat(600)}`, now));
    // 14 messages (with the seed's 2) of ~1.9 KB: one page of all is ~27 KB; 8 KB takes 4 at most.
    const mod = w.module({ answerMaxBytes: 8 * 1024 });
    const done = (await mod.jobs?.[CONVERSATION_JOBS.kfSweep]?.process({}, w.jobContext())) as { failed: unknown[] };
    expect(done.failed).toEqual([]);
    const stored = await w.records("kind = 'conversation.message' AND payload->>'open_kfid' = $1", [KF]);
    expect(stored).toHaveLength(14);
    expect(new Set(stored.map((r) => r.source_ref)).size).toBe(14);
    expect(await w.records("kind = 'conversation.gap'")).toEqual([]);
    // Never more than fits the cap in one answer: at least 4 pages, where one page used to hold all 14.
    const { rows } = await w.app.db.pool.query('SELECT pages::int FROM kf_cursors WHERE open_kfid = $1', [KF]);
    expect(rows[0]?.pages).toBeGreaterThanOrEqual(4);
  }, 60000);
});
