import { createHash } from 'node:crypto';
import { signToken, verifyToken } from '../../src/acceptance';
import { identifierDigest } from '../../src/candidates';
import { sentOfferWithLink, startWorld, HMAC_KEY, TERMS, RECRUITER, tokenOf, type World } from './world';

/**
 * The candidate's acceptance page API against the real app, PostgreSQL and Redis: view, accept and
 * decline through a link, and every refusal (reused, expired, forged, superseded, mismatched,
 * oversized, malformed) changing nothing.
 */

const VIEW = '/h5/api/offer-link/view';
const ACCEPT = '/h5/api/offer-link/accept';
const DECLINE = '/h5/api/offer-link/decline';

describe('offer acceptance page', () => {
  let w: World;

  beforeAll(async () => {
    w = await startWorld();
  });
  afterAll(async () => {
    await w.stop();
  });
  afterEach(() => {
    w.clock.now = null;
  });

  /** Everything a refusal must leave as it was. */
  const snapshot = async () => {
    const q = (sql: string) => w.app.db.pool.query(sql).then((r) => r.rows);
    return {
      ledger: await q('SELECT count(*)::int AS n, max(seq)::int AS last FROM evidence_records'),
      offers: await q('SELECT id, state, steps, current_version, updated_at FROM offers ORDER BY id'),
      links: await q('SELECT id, first_viewed_at, used_at, used_outcome FROM offer_links ORDER BY id'),
    };
  };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- payloads read as any and checked with expect
  type Rec = { kind: string; actor: string; payload: any };
  const recordsOf = async (candidateId: string) =>
    (
      await w.app.db.pool.query<Rec>(`SELECT kind, actor, payload FROM evidence_records WHERE stream = $1 ORDER BY seq`, [
        `candidate:${candidateId}`,
      ])
    ).rows;
  const linkRow = async (id: string) => (await w.app.db.pool.query('SELECT * FROM offer_links WHERE id = $1', [id])).rows[0];
  const state = async (offerId: string) =>
    (await w.app.db.pool.query<{ state: string }>('SELECT state FROM offers WHERE id = $1', [offerId])).rows[0]?.state;

  test('view shows the exact approved terms, hash and deadline; the first view is recorded', async () => {
    const deadline = new Date('2099-01-01T10:00:00.000Z');
    const s = await sentOfferWithLink(w, { deadline });
    expect(s.link.url).toMatch(/^https:\/\/hire\.test\.example\/h5\/offer\.html#t=[A-Za-z0-9_-]+$/);
    const r = await w.post(VIEW, { token: s.token });
    expect(r.status).toBe(200);
    expect(r.headers.get('cache-control')).toBe('no-store');
    expect(r.body.content_sha256).toBe(s.contentSha256);
    expect(r.body.content.base_monthly_yuan).toBe(TERMS.baseMonthlyYuan);
    expect(r.body.deadline).toBe('2099-01-01T10:00:00.000Z');
    expect(r.body.deadline_shown).toBe('2099-01-01 18:00（北京时间）');
    expect(r.body.position).toEqual({ id: 'be-1', title: '后端工程师', department: '基础架构部' });
    expect(r.body.company).toBe('示例科技有限公司');
    expect(r.body.shown_text).toContain('月基本工资（税前）：¥30,000/月');
    expect(r.body.shown_text).toContain(s.contentSha256);
    expect(r.body.shown_text).toContain('正式发出的要约');
    expect(r.body.shown_text_sha256).toBe(createHash('sha256').update(r.body.shown_text, 'utf8').digest('hex'));
    expect(r.body.binding).toBe(true);

    await w.post(VIEW, { token: s.token });
    const viewed = (await recordsOf(s.candidateId)).filter((x) => x.kind === 'offer.link_viewed');
    expect(viewed).toHaveLength(1);
    expect(viewed[0]!.actor).toBe(s.candidateId);
    expect(viewed[0]!.payload).toMatchObject({
      link_id: s.link.linkId,
      offer_id: s.offerId,
      version: 1,
      ip: '127.0.0.1',
      user_agent: 'Mozilla/5.0 (iPhone) MicroMessenger/8.0 test',
      shown_text_sha256: r.body.shown_text_sha256,
    });
    expect((await linkRow(s.link.linkId)).first_viewed_at).not.toBeNull();
  });

  test('accept: the offer is accepted with ip, user agent, shown text hash, name and phone HMAC; the link is used', async () => {
    const s = await sentOfferWithLink(w);
    const v = await w.post(VIEW, { token: s.token });
    const r = await w.post(ACCEPT, {
      token: s.token,
      name: ' 陈晨 ',
      phone: `+86 ${s.phone.slice(0, 3)}-${s.phone.slice(3, 7)}-${s.phone.slice(7)}`,
      shownTextSha256: v.body.shown_text_sha256,
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ outcome: 'accepted', state: 'accepted' });
    expect(await state(s.offerId)).toBe('accepted');
    const accepted = (await recordsOf(s.candidateId)).filter((x) => x.kind === 'offer.accepted');
    expect(accepted).toHaveLength(1);
    expect(accepted[0]!.actor).toBe(s.candidateId);
    expect(accepted[0]!.payload).toMatchObject({
      offer_id: s.offerId,
      version: 1,
      content_sha256: s.contentSha256,
      ip: '127.0.0.1',
      user_agent: 'Mozilla/5.0 (iPhone) MicroMessenger/8.0 test',
      shown_text_sha256: v.body.shown_text_sha256,
      confirmation: {
        link_id: s.link.linkId,
        name: '陈晨',
        phone_hmac: identifierDigest(HMAC_KEY, 'phone', s.phone),
        phone_masked: `138****${s.phone.slice(7)}`,
        phone_check: 'matched',
        shown_text: v.body.shown_text,
      },
    });
    // No plain phone number anywhere in the record.
    expect(JSON.stringify(accepted[0]!.payload)).not.toContain(s.phone);
    const link = await linkRow(s.link.linkId);
    expect(link.used_outcome).toBe('accepted');
    expect(link.used_at).not.toBeNull();

    // Reused: 409, nothing changed.
    const before = await snapshot();
    const again = await w.post(ACCEPT, {
      token: s.token,
      name: '陈晨',
      phone: s.phone,
      shownTextSha256: v.body.shown_text_sha256,
    });
    expect(again.status).toBe(409);
    expect(again.body.error).toBe('link_used');
    expect(again.body.message).toContain('已使用');
    const decline = await w.post(DECLINE, { token: s.token, name: '陈晨', phone: s.phone, reasonCode: 'salary' });
    expect(decline.status).toBe(409);
    expect(decline.body.error).toBe('link_used');
    expect(await snapshot()).toEqual(before);
  });

  test('decline with a reason: the offer is declined, the link used', async () => {
    const s = await sentOfferWithLink(w);
    const r = await w.post(DECLINE, {
      token: s.token,
      name: '陈晨',
      phone: s.phone,
      reasonCode: 'other_offer',
      reason: '已接受其他公司的 offer',
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ outcome: 'declined', state: 'declined' });
    const declined = (await recordsOf(s.candidateId)).filter((x) => x.kind === 'offer.declined');
    expect(declined).toHaveLength(1);
    expect(declined[0]!.payload).toMatchObject({
      reason_code: 'other_offer',
      reason: '已接受其他公司的 offer',
      confirmation: { link_id: s.link.linkId, ip: '127.0.0.1', name: '陈晨', phone_check: 'matched' },
    });
    expect((await linkRow(s.link.linkId)).used_outcome).toBe('declined');
    const view = await w.post(VIEW, { token: s.token });
    expect(view.status).toBe(409);
    expect(view.body.error).toBe('link_used');
  });

  test('two concurrent answers through one link: exactly one wins', async () => {
    const s = await sentOfferWithLink(w, { phone: null });
    const v = await w.post(VIEW, { token: s.token });
    const body = { token: s.token, name: '陈晨', phone: s.phone, shownTextSha256: v.body.shown_text_sha256 };
    const rs = await Promise.all([
      w.post(ACCEPT, body),
      w.post(DECLINE, { token: s.token, name: '陈晨', phone: s.phone, reasonCode: 'salary' }),
      w.post(ACCEPT, body),
    ]);
    expect(rs.filter((r) => r.status === 200)).toHaveLength(1);
    expect(rs.filter((r) => r.status === 409)).toHaveLength(2);
    const answers = (await recordsOf(s.candidateId)).filter((x) => x.kind === 'offer.accepted' || x.kind === 'offer.declined');
    expect(answers).toHaveLength(1);
  });

  test('expired link: 410 from the token alone, nothing read or changed', async () => {
    const s = await sentOfferWithLink(w);
    w.clock.now = Date.now() + 8 * 24 * 3600_000;
    const before = await snapshot();
    const q = w.queries();
    const r = await w.post(VIEW, { token: s.token });
    expect(r.status).toBe(410);
    expect(r.body.error).toBe('link_expired');
    expect(r.body.message).toContain('已过期');
    const a = await w.post(ACCEPT, { token: s.token, name: '陈晨', phone: s.phone, shownTextSha256: 'a'.repeat(64) });
    expect(a.status).toBe(410);
    expect(w.queries()).toBe(q);
    expect(await snapshot()).toEqual(before);
    expect(await state(s.offerId)).toBe('sent');
  });

  test('forged, altered or guessed tokens: 401, no query made, nothing changed', async () => {
    const s = await sentOfferWithLink(w);
    const before = await snapshot();
    const q = w.queries();
    // Another secret, same claims.
    const claims = verifyToken(Buffer.from(w.app.config.OFFER_LINK_SECRET!, 'utf8'), s.token);
    const forged = signToken(Buffer.from('x'.repeat(64), 'utf8'), claims);
    // The claims altered (a later expiry) with the old MAC.
    const raw = Buffer.from(s.token, 'base64url');
    raw.writeUIntBE(Date.parse('2199-01-01T00:00:00Z'), 69, 6);
    const altered = raw.toString('base64url');
    // One bit of the MAC flipped; a guess; a truncated link.
    const flipped = Buffer.from(s.token, 'base64url');
    flipped[flipped.length - 1]! ^= 1;
    for (const token of [
      forged,
      altered,
      flipped.toString('base64url'),
      'abcdefghijklmnop',
      s.token.slice(0, -5),
      `${s.token}=`,
    ]) {
      for (const path of [VIEW, ACCEPT, DECLINE]) {
        const r = await w.post(path, {
          token,
          name: '陈晨',
          phone: s.phone,
          shownTextSha256: 'a'.repeat(64),
          reasonCode: 'salary',
        });
        expect({ token, path, status: r.status, error: r.body.error }).toEqual({
          token,
          path,
          status: 401,
          error: 'link_invalid',
        });
        expect(r.body.message).toMatch(/链接无效/);
      }
    }
    expect(w.queries()).toBe(q);
    expect(await snapshot()).toEqual(before);
  });

  test('a rescinded offer: 409 offer_not_open, nothing changed', async () => {
    const s = await sentOfferWithLink(w);
    await w.offers.offers.rescindOffer({
      corpId: w.corpId,
      offerId: s.offerId,
      actor: RECRUITER,
      reason: '条款调整',
      hrbp: 'hrbp1',
      acknowledgeWarnings: true,
    });
    const before = await snapshot();
    const r = await w.post(VIEW, { token: s.token });
    expect(r.status).toBe(409);
    expect(r.body.error).toBe('offer_not_open');
    expect(r.body.message).toContain('公司已撤回');
    const a = await w.post(DECLINE, { token: s.token, name: '陈晨', phone: s.phone, reasonCode: 'salary' });
    expect(a.status).toBe(409);
    expect(await snapshot()).toEqual(before);
  });

  test('wrong version after a revision: the old link is refused, the new one works', async () => {
    // No transition revises a sent offer today, but a link must never answer for a version that is
    // no longer current: the offer is put back to approved by hand (as the superuser), then revised,
    // approved and sent as version 2 through the domain.
    const t = await sentOfferWithLink(w);
    await w.app.db.pool.query("UPDATE offers SET state = 'approved' WHERE id = $1", [t.offerId]);
    await w.offers.offers.reviseOffer({
      corpId: w.corpId,
      offerId: t.offerId,
      actor: RECRUITER,
      terms: { ...TERMS, baseMonthlyYuan: 32000 },
    });
    const o2 = (await w.offers.offers.getOffer({ corpId: w.corpId, offerId: t.offerId }))!;
    const v2 = { corpId: w.corpId, offerId: t.offerId, version: 2, contentSha256: o2.versions[1]!.contentSha256 };
    await w.offers.offers.submitForApproval({ ...v2, actor: RECRUITER });
    await w.offers.offers.recordApprovalOutcome(v2, `sp2-${t.offerId}`, 'approved');
    await w.offers.offers.sendFormalOffer({ ...v2, actor: RECRUITER });
    const before = await snapshot();
    for (const [path, body] of [
      [VIEW, { token: t.token }],
      [DECLINE, { token: t.token, name: '陈晨', phone: t.phone, reasonCode: 'salary' }],
      [ACCEPT, { token: t.token, name: '陈晨', phone: t.phone, shownTextSha256: 'a'.repeat(64) }],
    ] as const) {
      const r = await w.post(path, body);
      expect({ path, status: r.status, error: r.body.error }).toEqual({ path, status: 409, error: 'link_superseded' });
    }
    expect(await snapshot()).toEqual(before);
    // The link for version 2 works and shows version 2's terms.
    const link2 = await w.acceptance.links.issue({
      ...v2,
      candidateId: t.candidateId,
      expiresAt: new Date(Date.now() + 86400_000),
      key: 'v2',
    });
    const view = await w.post(VIEW, { token: tokenOf(link2.url) });
    expect(view.status).toBe(200);
    expect(view.body.version).toBe(2);
    expect(view.body.shown_text).toContain('¥32,000');
  });

  test('a phone other than the one the recruiter recorded: 403, the attempt recorded, the offer and link unchanged', async () => {
    const s = await sentOfferWithLink(w);
    const v = await w.post(VIEW, { token: s.token });
    const offersBefore = (await snapshot()).offers;
    const r = await w.post(ACCEPT, {
      token: s.token,
      name: '陈晨',
      phone: '13900000000',
      shownTextSha256: v.body.shown_text_sha256,
    });
    expect(r.status).toBe(403);
    expect(r.body.error).toBe('identity_mismatch');
    expect(r.body.message).toContain('手机号');
    expect((await snapshot()).offers).toEqual(offersBefore);
    expect((await linkRow(s.link.linkId)).used_at).toBeNull();
    const refused = (await recordsOf(s.candidateId)).filter((x) => x.kind === 'offer.link_refused');
    expect(refused).toHaveLength(1);
    expect(refused[0]!.payload).toMatchObject({
      reason: 'identity_mismatch',
      phone_masked: '139****0000',
      phone_check: 'mismatch',
    });
    expect(JSON.stringify(refused[0]!.payload)).not.toContain('13900000000');
    // The right phone still works.
    const ok = await w.post(ACCEPT, { token: s.token, name: '陈晨', phone: s.phone, shownTextSha256: v.body.shown_text_sha256 });
    expect(ok.status).toBe(200);
  });

  test('a decline with another phone: 403, recorded, the offer still open (a forwarded link cannot end it)', async () => {
    const s = await sentOfferWithLink(w);
    const offersBefore = (await snapshot()).offers;
    const r = await w.post(DECLINE, { token: s.token, name: '陈晨', phone: '13900000001', reasonCode: 'salary' });
    expect(r.status).toBe(403);
    expect(r.body.error).toBe('identity_mismatch');
    expect((await snapshot()).offers).toEqual(offersBefore);
    expect((await linkRow(s.link.linkId)).used_at).toBeNull();
    const refused = (await recordsOf(s.candidateId)).filter((x) => x.kind === 'offer.link_refused');
    expect(refused.at(-1)!.payload).toMatchObject({ reason: 'identity_mismatch', attempted: 'decline', phone_check: 'mismatch' });
  });

  test('accept with a shown-text hash that is not the text of this version: 409, nothing changed', async () => {
    const s = await sentOfferWithLink(w);
    const before = await snapshot();
    const r = await w.post(ACCEPT, { token: s.token, name: '陈晨', phone: s.phone, shownTextSha256: 'b'.repeat(64) });
    expect(r.status).toBe(409);
    expect(r.body.error).toBe('shown_text_changed');
    expect(await snapshot()).toEqual(before);
  });

  test('after the offer deadline: 410 (the link expires with the deadline)', async () => {
    const deadline = new Date(Date.now() + 3600_000);
    const s = await sentOfferWithLink(w, { deadline });
    const v = await w.post(VIEW, { token: s.token });
    // The link expires with the deadline: the token alone refuses it.
    expect(new Date(v.body.link_expires_at).getTime()).toBe(deadline.getTime());
    w.clock.now = deadline.getTime() + 1;
    const r = await w.post(ACCEPT, { token: s.token, name: '陈晨', phone: s.phone, shownTextSha256: v.body.shown_text_sha256 });
    expect(r.status).toBe(410);
    expect(['link_expired', 'offer_deadline_passed']).toContain(r.body.error);
    expect(await state(s.offerId)).toBe('sent');
  });

  test('bad bodies: oversized 413, malformed JSON 400, missing fields 400, never a 500', async () => {
    const s = await sentOfferWithLink(w);
    const before = await snapshot();
    const big = await w.post(DECLINE, { token: s.token, reasonCode: 'other', reason: 'x'.repeat(9000) });
    expect(big.status).toBe(413);
    expect(big.body.error).toBe('body_too_large');
    const bad = await w.post(ACCEPT, '{"token": ');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('malformed_json');
    expect(bad.body.message).toContain('JSON');
    const cases: [string, unknown, string][] = [
      [VIEW, {}, 'bad_request'],
      [VIEW, [], 'bad_request'],
      [VIEW, { token: 42 }, 'bad_request'],
      [ACCEPT, { token: s.token, name: '', phone: s.phone, shownTextSha256: 'a'.repeat(64) }, 'invalid_name'],
      [ACCEPT, { token: s.token, name: '陈晨', phone: '12345', shownTextSha256: 'a'.repeat(64) }, 'invalid_phone'],
      [ACCEPT, { token: s.token, name: '陈晨', phone: s.phone }, 'bad_request'],
      [DECLINE, { token: s.token, name: '陈晨', phone: s.phone, reasonCode: 'bored' }, 'invalid_reason'],
      [DECLINE, { token: s.token, name: '陈晨', phone: s.phone, reasonCode: 'other', reason: 42 }, 'invalid_reason'],
      // A link alone does not decline: who is answering is asked, as for an acceptance.
      [DECLINE, { token: s.token, reasonCode: 'salary' }, 'invalid_name'],
      [DECLINE, { token: s.token, name: '陈晨', reasonCode: 'salary' }, 'invalid_phone'],
    ];
    for (const [path, body, error] of cases) {
      const r = await w.post(path, body);
      expect({ path, body, status: r.status, error: r.body.error }).toEqual({ path, body, status: 400, error });
      expect(typeof r.body.message).toBe('string');
    }
    const text = await fetch(`${w.app.url}${VIEW}`, {
      method: 'POST',
      headers: { 'content-type': 'application/xml' },
      body: '<a/>',
    });
    expect(text.status).toBe(415);
    const plain = await fetch(`${w.app.url}${VIEW}`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ token: s.token }),
    });
    expect(plain.status).toBe(415);
    expect(((await plain.json()) as { error: string }).error).toBe('unsupported_media_type');
    expect(await snapshot()).toEqual(before);
  });

  test('issue is idempotent per key and refuses an offer that is not sent', async () => {
    const s = await sentOfferWithLink(w);
    const again = await w.acceptance.links.issue({
      corpId: w.corpId,
      offerId: s.offerId,
      version: 1,
      contentSha256: s.contentSha256,
      candidateId: s.candidateId,
      expiresAt: new Date(Date.now() + 86400_000),
      key: 'sent-seq-1',
    });
    expect(again).toEqual(s.link);
    const links = await w.app.db.pool.query('SELECT count(*)::int AS n FROM offer_links WHERE offer_id = $1', [s.offerId]);
    expect(links.rows[0].n).toBe(1);
    const issued = (await recordsOf(s.candidateId)).filter((x) => x.kind === 'offer.link_issued');
    expect(issued).toHaveLength(1);
    expect(JSON.stringify(issued[0]!.payload)).not.toContain(s.token);
    await expect(
      w.acceptance.links.issue({
        corpId: w.corpId,
        offerId: s.offerId,
        version: 1,
        contentSha256: 'c'.repeat(64),
        candidateId: s.candidateId,
        expiresAt: new Date(Date.now() + 86400_000),
        key: 'another',
      }),
    ).rejects.toThrow(/content hash/);
    // Once answered, the offer is no longer sent: no new link.
    const v = await w.post(VIEW, { token: s.token });
    expect(
      (await w.post(ACCEPT, { token: s.token, name: '陈晨', phone: s.phone, shownTextSha256: v.body.shown_text_sha256 })).status,
    ).toBe(200);
    await expect(
      w.acceptance.links.issue({
        corpId: w.corpId,
        offerId: s.offerId,
        version: 1,
        contentSha256: s.contentSha256,
        candidateId: s.candidateId,
        expiresAt: new Date(Date.now() + 86400_000),
        key: 'after-answer',
      }),
    ).rejects.toThrow(/not sent/);
    const stored = await w.app.db.pool.query('SELECT token_sha256 FROM offer_links WHERE id = $1', [s.link.linkId]);
    expect(stored.rows[0].token_sha256).toBe(createHash('sha256').update(s.token).digest('hex'));
  });
});
