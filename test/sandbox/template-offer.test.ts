/**
 * The sandbox's offer template (录用审批): levels P4–P9, bonus, probation and content-hash controls beside
 * the original ones, and the app's form (src/approvals/form.ts) filling it: with every control
 * configured, with an old configuration that names only the original ones, and what it refuses.
 */
import type { Sandbox } from '../../sandbox/server';
import { OFFER_CONTROLS, OFFER_LEVEL_OPTIONS, OFFER_TEMPLATE_ID, offerContents } from '../../sandbox/seed';
import {
  applyContents,
  DEFAULT_LEVEL_OPTIONS,
  formIdentity,
  FormConfigError,
  parseOfferControls,
  type OfferControls,
} from '../../src/approvals/form';
import { contentSha256, offerContent, type OfferTerms } from '../../src/offers';
import type { ApprovalDetail } from '../../src/wecom/api';
import { Client, startSandbox, type Json } from './helpers';

const OLD_CONFIG = {
  candidate: 'Text-1700000000001',
  position: 'Text-1700000000002',
  salary: 'Money-1700000000003',
  startDate: 'Date-1700000000004',
  level: 'Selector-1700000000005',
  remark: 'Textarea-1700000000006',
  levels: { P4: 'option-1700000000101', P5: 'option-1700000000102', P6: 'option-1700000000103', P7: 'option-1700000000104' },
};
/** Every control of the sandbox template, levels left to the default (the sandbox's P4–P9). */
const FULL_CONFIG = {
  candidate: 'Text-1700000000001',
  position: 'Text-1700000000002',
  salary: 'Money-1700000000003',
  startDate: 'Date-1700000000004',
  level: 'Selector-1700000000005',
  remark: 'Textarea-1700000000006',
  bonus: 'Money-1700000000007',
  probation: 'Number-1700000000008',
  contentHash: 'Text-1700000000009',
};

function terms(over: Partial<OfferTerms> = {}): OfferTerms {
  return {
    baseMonthlyYuan: 52000,
    salaryMonths: 14,
    annualBonusTargetYuan: 120000,
    bonusNote: '按绩效发放',
    level: 'P9',
    department: '研发部',
    location: '上海',
    startDate: '2027-03-01',
    probationMonths: 6,
    acceptanceDeadline: new Date('2027-02-01T10:00:00.000Z'),
    terms: '',
    ...over,
  };
}

const form = (controls: OfferControls, t: OfferTerms, offerId = `of_${'a'.repeat(32)}`) => {
  const content = offerContent('be-template-01', t);
  const sha = contentSha256(content);
  return { sha, contents: applyContents(controls, { content, sha, offerId, version: 2, candidateId: 'cd_template01' }) };
};

describe('the offer template', () => {
  let sb: Sandbox;
  let api: Client;
  beforeAll(async () => {
    sb = await startSandbox({ callbackUrl: '' });
    api = new Client(sb);
  });
  afterAll(async () => {
    await sb.close();
  });

  const apply = (contents: unknown): Promise<Json> =>
    api.post('oa/applyevent', {
      creator_userid: 'zhangmin',
      template_id: OFFER_TEMPLATE_ID,
      use_template_approver: 1,
      apply_data: { contents },
    });
  const detail = async (spNo: unknown): Promise<ApprovalDetail> =>
    (await api.post('oa/getapprovaldetail', { sp_no: spNo }))['info'] as ApprovalDetail;
  const valueOf = (d: ApprovalDetail, id: string): Record<string, unknown> =>
    d.apply_data.contents.find((c) => c.id === id)!.value;

  test('gettemplatedetail: the original controls unchanged, then bonus, probation and hash; levels P4–P9', async () => {
    const r = await api.post('oa/gettemplatedetail', { template_id: OFFER_TEMPLATE_ID });
    const controls = (r['template_content'] as { controls: { property: Json; config?: Json }[] }).controls;
    expect(
      controls.map((c) => [
        c.property['control'],
        c.property['id'],
        (c.property['title'] as Json[])[0]!['text'],
        c.property['require'],
      ]),
    ).toEqual([
      ['Text', 'Text-1700000000001', '候选人', 1],
      ['Text', 'Text-1700000000002', '岗位', 1],
      ['Money', 'Money-1700000000003', '月薪', 1],
      ['Date', 'Date-1700000000004', '入职日期', 1],
      ['Selector', 'Selector-1700000000005', '职级', 1],
      ['Textarea', 'Textarea-1700000000006', '备注', 0],
      ['Money', 'Money-1700000000007', '年度目标奖金', 0],
      ['Number', 'Number-1700000000008', '试用期（月）', 0],
      ['Text', 'Text-1700000000009', '内容哈希', 0],
    ]);
    for (const c of controls) expect(c.property['id']).toMatch(/^[A-Z][a-z]+-\d{13}$/);
    const level = controls.find((c) => c.property['id'] === OFFER_CONTROLS.level)!;
    const options = (level.config!['selector'] as { options: { key: string; value: { text: string }[] }[] }).options;
    expect(options.map((o) => [o.value[0]!.text, o.key])).toEqual(Object.entries(OFFER_LEVEL_OPTIONS));
    // The app's default level keys are the sandbox's (copied, not imported).
    expect(DEFAULT_LEVEL_OPTIONS).toEqual(OFFER_LEVEL_OPTIONS);
  });

  test('every control configured: a P9 offer fills level, bonus, probation and hash; the hash reads back', async () => {
    const controls = parseOfferControls(JSON.stringify(FULL_CONFIG));
    const { sha, contents } = form(controls, terms());
    const r = await apply(contents);
    expect(r['errcode']).toBe(0);
    const d = await detail(r['sp_no']);
    expect(valueOf(d, OFFER_CONTROLS.level)['selector']).toMatchObject({
      type: 'single',
      options: [{ key: OFFER_LEVEL_OPTIONS.P9, value: [{ text: 'P9', lang: 'zh_CN' }] }],
    });
    expect(valueOf(d, OFFER_CONTROLS.salary)['new_money']).toBe('52000');
    expect(valueOf(d, OFFER_CONTROLS.bonus)['new_money']).toBe('120000');
    expect(valueOf(d, OFFER_CONTROLS.probation)['new_number']).toBe('6');
    expect(valueOf(d, OFFER_CONTROLS.contentHash)['text']).toBe(sha);
    expect(String(valueOf(d, OFFER_CONTROLS.remark)['text'])).toContain('年度目标奖金：¥120,000（按绩效发放）');
    expect(formIdentity(d, controls)).toEqual({ sha, offerId: `of_${'a'.repeat(32)}`, version: 2 });

    // No bonus: the Money control stays empty (it cannot say "none"); probation 0 is still a number.
    const none = form(controls, terms({ annualBonusTargetYuan: null, bonusNote: '', probationMonths: 0, level: 'P8' }));
    expect(none.contents.find((c) => c.id === OFFER_CONTROLS.bonus)).toBeUndefined();
    const d2 = await detail((await apply(none.contents))['sp_no']);
    expect(valueOf(d2, OFFER_CONTROLS.bonus)['new_money']).toBeUndefined();
    expect(valueOf(d2, OFFER_CONTROLS.probation)['new_number']).toBe('0');
    expect(formIdentity(d2, controls)?.sha).toBe(none.sha);
  });

  test('an old configuration (no bonus, probation, hash) still parses and submits; the new controls stay empty', async () => {
    const controls = parseOfferControls(JSON.stringify(OLD_CONFIG));
    expect(controls).toEqual({ ...OLD_CONFIG });
    const { sha, contents } = form(controls, terms({ level: 'P6' }));
    expect(contents.map((c) => c.id)).toEqual(Object.values(OLD_CONFIG).filter((v) => typeof v === 'string'));
    const d = await detail((await apply(contents))['sp_no']);
    expect(valueOf(d, OFFER_CONTROLS.contentHash)['text']).toBe('');
    expect(formIdentity(d, controls)?.sha).toBe(sha);
    // Its levels stop at P7: a P9 offer is refused before anything is sent.
    expect(() => form(controls, terms())).toThrow(FormConfigError);
    // The seed's own helper (demo, older tests) still fits the template.
    expect((await apply(offerContents('cd_x', '岗位', '20000', 1767196800)))['errcode']).toBe(0);
  });

  test('a Text bonus and a Selector probation; configuration errors are named', () => {
    const controls = parseOfferControls(
      JSON.stringify({
        ...FULL_CONFIG,
        bonus: 'Text-1700000000017',
        probation: 'Selector-1700000000018',
        probationOptions: { '0': 'option-0m', '3': 'option-3m', '06': 'option-6m' },
      }),
    );
    const { contents } = form(controls, terms());
    expect(contents.find((c) => c.id === 'Text-1700000000017')!.value).toEqual({ text: '¥120,000（按绩效发放）' });
    expect(contents.find((c) => c.id === 'Selector-1700000000018')!.value).toEqual({
      selector: { type: 'single', options: [{ key: 'option-6m' }] },
    });
    expect(
      form(controls, terms({ annualBonusTargetYuan: null, bonusNote: '' })).contents.find((c) => c.id === 'Text-1700000000017')!
        .value,
    ).toEqual({
      text: '无',
    });
    expect(() => form(controls, terms({ probationMonths: 2 }))).toThrow('试用期没有 2 个月的选项');

    const bad = (over: Json): string => {
      try {
        parseOfferControls(JSON.stringify({ ...FULL_CONFIG, ...over }));
        return 'parsed';
      } catch (err) {
        expect(err).toBeInstanceOf(FormConfigError);
        return (err as Error).message;
      }
    };
    expect(bad({ bonus: 'Date-1700000000007' })).toBe(
      'WECOM_OFFER_CONTROLS.bonus must be a Money or Text control, not Date-1700000000007',
    );
    expect(bad({ probation: 'Text-1700000000008' })).toContain('probation must be a Number or Selector control');
    expect(bad({ probation: 'Selector-1700000000008' })).toBe(
      'WECOM_OFFER_CONTROLS.probationOptions must map values to option keys',
    );
    expect(bad({ probation: 'Selector-1700000000008', probationOptions: { three: 'x' } })).toContain('months as digits');
    expect(bad({ contentHash: 'Textarea-1700000000009' })).toContain('contentHash must be a Text control');
    expect(bad({ levels: { P6: '' } })).toBe('WECOM_OFFER_CONTROLS.levels.P6 must be an option key');
    expect(bad({ levels: ['P6'] })).toBe('WECOM_OFFER_CONTROLS.levels must map values to option keys');
    expect(bad({ remark: undefined })).toBe('WECOM_OFFER_CONTROLS.remark must be a control id');
    expect(() => parseOfferControls('[]')).toThrow('must be an object');
  });

  test('a form whose hash control disagrees with its remark is not matched to any content', async () => {
    const controls = parseOfferControls(JSON.stringify(FULL_CONFIG));
    const { contents } = form(controls, terms());
    const forged = contents.map((c) => (c.id === OFFER_CONTROLS.contentHash ? { ...c, value: { text: 'f'.repeat(64) } } : c));
    const d = await detail((await apply(forged))['sp_no']);
    expect(formIdentity(d, controls)).toBeNull();
    // The template refuses what WeCom would: an unknown level option, a non-numeric probation.
    const wrongLevel = contents.map((c) =>
      c.id === OFFER_CONTROLS.level
        ? { ...c, value: { selector: { type: 'single', options: [{ key: 'option-1700000000199' }] } } }
        : c,
    );
    expect(await apply(wrongLevel)).toMatchObject({ errcode: 301025 });
    const wrongProbation = contents.map((c) => (c.id === OFFER_CONTROLS.probation ? { ...c, value: { new_number: '三' } } : c));
    expect(await apply(wrongProbation)).toMatchObject({ errcode: 301025 });
  });
});
