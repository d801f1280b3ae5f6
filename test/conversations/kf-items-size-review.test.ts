import { CONVERSATION_JOBS } from '../../src/conversations';
import { kfCustomerText } from '../../sandbox/state';
import { candidateOf, KF, startKfWorld, type KfWorld } from './support';

/**
 * Review of issue 9: only a text's content had a size cap. Any other part of an item (a link's
 * title, an unknown type's body, a 10 MB msgid in an item then kept as a placeholder) went whole
 * into its record, so one hostile item made a record of megabytes, read back with every timeline.
 * Now an item over the cap keeps its short fields in the record and the whole as the candidate's
 * media, the cut noted and counted; the messages around it are stored as usual.
 */

const CAND = 'wmCandWuHao0003';

describe('KF items over the size cap', () => {
  let w: KfWorld;
  beforeEach(async () => {
    w = await startKfWorld();
  });
  afterEach(async () => {
    await w.close();
  });

  test('a huge link and a 2 MB msgid: short fields recorded, whole kept as media, the neighbours stored', async () => {
    const now = w.sandbox.state.nowSec();
    const add = (msg: object) => w.sandbox.state.addKfMessage(KF, msg as Parameters<typeof w.sandbox.state.addKfMessage>[1]);
    add(kfCustomerText(KF, CAND, '在吗', now));
    add({
      msgid: 'x-link-huge',
      open_kfid: KF,
      external_userid: CAND,
      send_time: now,
      origin: 3,
      msgtype: 'link',
      link: { title: '标'.repeat(300_000), desc: '', url: 'https://example.invalid/', pic_url: '' },
    });
    add({
      msgid: 'm'.repeat(2_000_000),
      open_kfid: KF,
      external_userid: CAND,
      send_time: now,
      origin: 3,
      msgtype: 'text',
      text: { content: 'x' },
    });
    add(kfCustomerText(KF, CAND, '我再考虑一下', now));
    const mod = w.module({ media: { kind: 'pg', maxBytes: 8 * 1024 * 1024 } });
    const done = (await mod.jobs?.[CONVERSATION_JOBS.kfSweep]?.process({}, w.jobContext())) as { failed: unknown[] };
    expect(done.failed).toEqual([]);
    const cand = await candidateOf(w, CAND);
    const mine = await w.records('stream = $1 AND kind LIKE $2', [`candidate:${cand}`, 'conversation.%']);
    // No record carries the megabytes.
    for (const r of mine) expect(Buffer.byteLength(JSON.stringify(r.payload))).toBeLessThan(64 * 1024);
    const link = mine.find((r) => r.payload.msgid === 'x-link-huge');
    expect(link?.payload.message).toEqual(
      expect.objectContaining({ msgid: 'x-link-huge', msgtype: 'link', origin: 3, external_userid: CAND }),
    );
    expect(link?.payload.item_cut).toEqual(
      expect.objectContaining({
        reason: 'item_over_cap',
        dropped: ['link'],
        whole_item: expect.objectContaining({ sha256: expect.any(String) }),
      }),
    );
    const whole = await mod.mediaStore.get({ corpId: w.app.keys.corpId, owner: cand }, link?.payload.item_cut.whole_item.sha256);
    expect(JSON.parse(whole?.bytes.toString('utf8') ?? '{}').link.title).toHaveLength(300_000);
    const placeholder = mine.find((r) => r.kind === 'conversation.placeholder');
    expect(placeholder?.payload.reason).toBe('no_msgid');
    expect(placeholder?.payload.item_cut).toEqual(expect.objectContaining({ dropped: ['msgid'] }));
    expect(mine.filter((r) => r.kind === 'conversation.message').map((r) => r.payload.text ?? r.payload.msgtype)).toEqual([
      '在吗',
      'link',
      '我再考虑一下',
    ]);
    const bad = Object.fromEntries((await mod.metrics.badInput.get()).values.map((v) => [v.labels.reason, v.value]));
    expect(bad['item_over_cap']).toBe(2);
  }, 60000);
});
