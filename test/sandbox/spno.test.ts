/**
 * Approval numbers (sp_no): WeCom's wire format (`YYYYMMDD` Beijing date + 4-digit daily sequence, a
 * string), but not restarting at 0001 with every sandbox, so a ledger that outlives a sandbox never
 * files two runs' approvals under one number.
 */
import { OFFER_TEMPLATE_ID, offerContents } from '../../sandbox/seed';
import { SP_SEQ_MAX, spDay, spSeqAt, spSeqFromTime } from '../../sandbox/state';
import { Client, startSandbox } from './helpers';

const BEIJING_MIDNIGHT = Date.UTC(2026, 10, 25, 16, 0, 0); // 2026-11-26 00:00 Asia/Shanghai

const apply = {
  creator_userid: 'zhangmin',
  template_id: OFFER_TEMPLATE_ID,
  use_template_approver: 1,
  apply_data: { contents: offerContents('陈晨', '前端开发工程师', '25000', 1767196800) },
};

async function applyOnce(clockMs: number, extra: Parameters<typeof startSandbox>[0] = {}): Promise<string[]> {
  const sb = await startSandbox({ clock: () => clockMs, ...extra });
  try {
    const api = new Client(sb);
    const out: string[] = [];
    for (let i = 0; i < 3; i += 1) out.push(String((await api.post('oa/applyevent', apply))['sp_no']));
    return out;
  } finally {
    await sb.close();
  }
}

describe('sandbox approval numbers', () => {
  test('the time seed: tens of seconds since Beijing midnight, 1..8640', () => {
    expect(spSeqFromTime(BEIJING_MIDNIGHT)).toBe(1);
    expect(spSeqFromTime(BEIJING_MIDNIGHT + 9_999)).toBe(1);
    expect(spSeqFromTime(BEIJING_MIDNIGHT + 10_000)).toBe(2);
    expect(spSeqFromTime(BEIJING_MIDNIGHT + 86_399_999)).toBe(8640);
    expect(spDay(BEIJING_MIDNIGHT / 1000)).toBe('20261126');
    expect(spDay(BEIJING_MIDNIGHT / 1000 - 1)).toBe('20261125');
  });

  test('the sequence wraps within 4 digits', () => {
    expect(spSeqAt(9998, 0)).toBe(9998);
    expect(spSeqAt(9998, 1)).toBe(9999);
    expect(spSeqAt(9998, 2)).toBe(1);
    expect(spSeqAt(1, SP_SEQ_MAX)).toBe(1);
  });

  test('a restarted sandbox does not hand out the numbers of the one before; the format stays YYYYMMDD####', async () => {
    const first = await applyOnce(BEIJING_MIDNIGHT + 3600_000);
    const second = await applyOnce(BEIJING_MIDNIGHT + 3600_000 + 60_000); // restarted a minute later
    for (const sp of [...first, ...second]) expect(sp).toMatch(/^20261126\d{4}$/);
    expect(new Set([...first, ...second]).size).toBe(6);
    // Within one instance: consecutive, as WeCom's daily sequence.
    expect(first.map((s) => Number(s.slice(8)))).toEqual([361, 362, 363]);
  });

  test('spSeqStart sets where each day starts (what npm run demo derives from its ledger)', async () => {
    const got = await applyOnce(BEIJING_MIDNIGHT + 3600_000, { spSeqStart: (day) => (day === '20261126' ? 9998 : 1) });
    expect(got).toEqual(['202611269998', '202611269999', '202611260001']);
  });
});
