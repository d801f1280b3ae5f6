import { clientKey } from '../../src/acceptance/rate-limit';
import { sentOfferWithLink, startWorld, type World } from './world';

/**
 * Failed link attempts per IP, counted in the real Redis: at the limit every further request of
 * that IP, even with a valid link, gets 429 with Retry-After and changes nothing; failures that are
 * the candidate's typing (a bad name) do not count.
 */

const VIEW = '/h5/api/offer-link/view';
const ACCEPT = '/h5/api/offer-link/accept';

describe('offer link rate limit', () => {
  let w: World;

  beforeAll(async () => {
    w = await startWorld({ failureLimit: { limit: 3, windowMs: 10 * 60_000 } });
  });
  afterAll(async () => {
    await w.stop();
  });

  test('after 3 bad tokens the IP gets 429, also with a valid link, and nothing is read or written', async () => {
    const s = await sentOfferWithLink(w);
    // Input errors are not counted.
    for (let i = 0; i < 5; i++) {
      const r = await w.post(ACCEPT, { token: s.token, name: '', phone: s.phone, shownTextSha256: 'a'.repeat(64) });
      expect(r.status).toBe(400);
    }
    expect((await w.post(VIEW, { token: s.token })).status).toBe(200);
    for (let i = 0; i < 3; i++) {
      const r = await w.post(VIEW, { token: `guess${i}abcdefghijklmnopqrstuvwxyz` });
      expect(r.status).toBe(401);
    }
    const before = await w.app.db.pool.query('SELECT count(*)::int AS n FROM evidence_records');
    const q = w.queries();
    const blocked = await w.post(VIEW, { token: s.token });
    expect(blocked.status).toBe(429);
    expect(blocked.body.error).toBe('rate_limited');
    expect(blocked.body.message).toContain('稍后再试');
    const retryAfter = Number(blocked.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(600);
    const accept = await w.post(ACCEPT, { token: s.token, name: '陈晨', phone: s.phone, shownTextSha256: 'a'.repeat(64) });
    expect(accept.status).toBe(429);
    expect(w.queries()).toBe(q);
    const after = await w.app.db.pool.query('SELECT count(*)::int AS n FROM evidence_records');
    expect(after.rows[0].n).toBe(before.rows[0].n);
    // The counter lives in Redis under the deployment's prefix, per corp and IP, with an expiry.
    const key = `${w.app.config.QUEUE_PREFIX}:acceptance:failures:${w.corpId}:127.0.0.1`;
    expect(Number(await w.app.redis.get(key))).toBe(3);
    expect(await w.app.redis.pttl(key)).toBeGreaterThan(0);
    // Once the window is over (the key gone), the valid link works again.
    await w.app.redis.del(key);
    expect((await w.post(VIEW, { token: s.token })).status).toBe(200);
  });

  test('a parallel burst spends the budget exactly: 3 failures pass, the rest get 429 (found by the review: 15 passed)', async () => {
    const key = `${w.app.config.QUEUE_PREFIX}:acceptance:failures:${w.corpId}:127.0.0.1`;
    await w.app.redis.del(key);
    const s = await sentOfferWithLink(w);
    const v = await w.post(VIEW, { token: s.token });
    await w.app.redis.del(key);
    const wrong = { token: s.token, name: '陈晨', phone: '13900000009', shownTextSha256: v.body.shown_text_sha256 };
    const rs = await Promise.all(Array.from({ length: 30 }, () => w.post(ACCEPT, wrong)));
    const by = (status: number) => rs.filter((r) => r.status === status).length;
    expect({ mismatch: by(403), limited: by(429), other: rs.length - by(403) - by(429) }).toEqual({
      mismatch: 3,
      limited: 27,
      other: 0,
    });
    const { rows } = await w.app.db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM evidence_records WHERE stream = $1 AND kind = 'offer.link_refused'`,
      [`candidate:${s.candidateId}`],
    );
    expect(rows[0]!.n).toBe(3);
    expect(Number(await w.app.redis.get(key))).toBe(3);
    await w.app.redis.del(key);
    // Answers that are not failures give their slot back: a view and an input error leave the count at 0.
    expect((await w.post(VIEW, { token: s.token })).status).toBe(200);
    expect((await w.post(ACCEPT, { ...wrong, name: '' })).status).toBe(400);
    expect(Number((await w.app.redis.get(key)) ?? '0')).toBe(0);
  });
});

describe('offer links without OFFER_LINK_SECRET', () => {
  let w: World;

  beforeAll(async () => {
    w = await startWorld({ env: { OFFER_LINK_SECRET: undefined } });
  });
  afterAll(async () => {
    await w.stop();
  });

  test('issue fails loudly and the page API answers 503 not_configured', async () => {
    await expect(sentOfferWithLink(w)).rejects.toThrow(/OFFER_LINK_SECRET is not set/);
    const r = await w.post(VIEW, { token: 'abcdefghijklmnopqrstuvwxyz' });
    expect(r.status).toBe(503);
    expect(r.body.error).toBe('not_configured');
    expect(r.body.message).toContain('尚未配置');
  });
});

describe('whom an address stands for (the limit key)', () => {
  test('IPv4 itself; IPv4-mapped IPv6 as IPv4; IPv6 by its /64, however it is written', () => {
    expect(clientKey('203.0.113.7')).toBe('203.0.113.7');
    expect(clientKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(clientKey('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:0DB8:0001:0002::abcd')).toBe('2001:db8:1:2::/64');
    // Another address of the same /64: the same key, so fresh addresses buy no fresh budget.
    expect(clientKey('2001:db8:1:2:ffff::1')).toBe(clientKey('2001:db8:1:2::9'));
    expect(clientKey('2001:db8:1:3::9')).not.toBe(clientKey('2001:db8:1:2::9'));
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
  });
});
