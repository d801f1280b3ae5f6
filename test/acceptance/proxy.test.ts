import { loadConfig } from '../../src/config/env';
import { testEnv } from '../support/env';
import { sentOfferWithLink, startWorld, type World } from './world';

/**
 * Behind a reverse proxy, the acceptance page must record the candidate's address, not the proxy's
 * (and rate-limit by it): TRUST_PROXY names the proxies whose X-Forwarded-For is believed. Anyone
 * else's X-Forwarded-For is ignored, so a candidate cannot claim another address.
 */

const VIEW = '/h5/api/offer-link/view';

async function viewedIp(w: World, headers: Record<string, string>): Promise<unknown> {
  const s = await sentOfferWithLink(w);
  expect((await w.post(VIEW, { token: s.token }, headers)).status).toBe(200);
  const { rows } = await w.app.db.pool.query<{ payload: { ip?: unknown } }>(
    `SELECT payload FROM evidence_records WHERE stream = $1 AND kind = 'offer.link_viewed'`,
    [`candidate:${s.candidateId}`],
  );
  return rows[0]?.payload.ip;
}

describe('TRUST_PROXY', () => {
  test('parsed: unset or false → none; a hop count; addresses and CIDRs; true and garbage refused, by name', () => {
    const parse = (v: string | undefined) =>
      loadConfig(testEnv({ DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/unused', TRUST_PROXY: v })).TRUST_PROXY;
    expect(parse(undefined)).toBe(false);
    expect(parse('false')).toBe(false);
    expect(parse('1')).toBe(1);
    expect(parse('10.0.0.0/8, 127.0.0.1')).toEqual(['10.0.0.0/8', '127.0.0.1']);
    expect(parse('::1,fd00::/8')).toEqual(['::1', 'fd00::/8']);
    expect(() => parse('true')).toThrow(/TRUST_PROXY/);
    expect(() => parse('proxy.example.com')).toThrow(/TRUST_PROXY/);
  });

  describe('unset', () => {
    let w: World;
    beforeAll(async () => {
      w = await startWorld();
    });
    afterAll(async () => {
      await w.stop();
    });
    test("a client's own X-Forwarded-For is ignored: the peer's address is recorded", async () => {
      expect(await viewedIp(w, { 'x-forwarded-for': '203.0.113.7' })).toBe('127.0.0.1');
    });
  });

  describe('set to the proxy', () => {
    let w: World;
    beforeAll(async () => {
      w = await startWorld({ env: { TRUST_PROXY: '127.0.0.1' } });
    });
    afterAll(async () => {
      await w.stop();
    });
    test("the proxy's X-Forwarded-For names the candidate's address, which is recorded", async () => {
      expect(await viewedIp(w, { 'x-forwarded-for': '203.0.113.7' })).toBe('203.0.113.7');
    });
  });
});
