/**
 * The WeCom approval form of an offer version: which template and controls (configuration:
 * WECOM_OFFER_TEMPLATE_ID, WECOM_OFFER_CONTROLS), what goes in them, and how the content hash is
 * read back from a form (getapprovaldetail) to match an approval to a version.
 */
import type { ApplyContent, ApprovalDetail } from '../wecom/api';
import { yuan, type OfferContent } from '../offers';

export interface OfferControls {
  /** Text: the candidate (opaque id; names stay out of WeCom forms). */
  candidate: string;
  /** Text: the position. */
  position: string;
  /** Money: monthly base salary (yuan). */
  salary: string;
  /** Date: start date. */
  startDate: string;
  /** Selector: level; `levels` maps a level (P6) to the option key. */
  level: string;
  levels: Record<string, string>;
  /** Textarea: the full terms and the content hash. */
  remark: string;
  /**
   * Optional, the annual bonus target: a `Money-…` control gets the yuan (left empty when the offer
   * has no bonus), a `Text-…` control a line such as `¥60,000（按绩效发放）` or `无`.
   */
  bonus?: string;
  /**
   * Optional, the probation in months: a `Number-…` control gets the number, a `Selector-…` control
   * the option `probationOptions` maps the months to ("3" → option key).
   */
  probation?: string;
  probationOptions?: Record<string, string>;
  /** Text (optional): the content hash alone, when the template has such a control. */
  contentHash?: string;
}

/**
 * The level option keys of the sandbox's offer template (sandbox/seed.ts OFFER_LEVEL_OPTIONS, copied:
 * the app never reads the sandbox), used when WECOM_OFFER_CONTROLS has no `levels`. A real template's
 * keys are its own (oa/gettemplatedetail): against another template these make WeCom refuse the form
 * (301025), recorded as a failed submission, so a real corp always sets `levels`.
 */
export const DEFAULT_LEVEL_OPTIONS: Readonly<Record<string, string>> = {
  P4: 'option-1700000000101',
  P5: 'option-1700000000102',
  P6: 'option-1700000000103',
  P7: 'option-1700000000104',
  P8: 'option-1700000000105',
  P9: 'option-1700000000106',
};

export class FormConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FormConfigError';
  }
}

/**
 * WECOM_OFFER_CONTROLS: JSON `{"candidate": "Text-…", …, "levels": {"P6": "option-…"}}`. `levels`
 * defaults to DEFAULT_LEVEL_OPTIONS (the sandbox's); `bonus`, `probation` (with `probationOptions`
 * for a selector) and `contentHash` are optional, so a configuration written before they existed
 * still parses and fills what it did.
 */
export function parseOfferControls(json: string): OfferControls {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    throw new FormConfigError('WECOM_OFFER_CONTROLS is not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new FormConfigError('WECOM_OFFER_CONTROLS must be an object');
  const o = v as Record<string, unknown>;
  const str = (k: string, kinds?: readonly string[]): string => {
    const s = o[k];
    if (typeof s !== 'string' || !/^[A-Za-z]+-\d{1,20}$/.test(s))
      throw new FormConfigError(`WECOM_OFFER_CONTROLS.${k} must be a control id`);
    // A control id names its kind (`Money-1700000000007`); the kinds a key can fill are few.
    if (kinds && !kinds.includes(kindOf(s)))
      throw new FormConfigError(`WECOM_OFFER_CONTROLS.${k} must be a ${kinds.join(' or ')} control, not ${s}`);
    return s;
  };
  const optionMap = (k: string, normalise: (key: string) => string): Record<string, string> => {
    const m = o[k];
    if (typeof m !== 'object' || m === null || Array.isArray(m)) {
      throw new FormConfigError(`WECOM_OFFER_CONTROLS.${k} must map values to option keys`);
    }
    const out: Record<string, string> = {};
    for (const [key, option] of Object.entries(m)) {
      if (typeof option !== 'string' || option === '')
        throw new FormConfigError(`WECOM_OFFER_CONTROLS.${k}.${key} must be an option key`);
      out[normalise(key)] = option;
    }
    return out;
  };
  const levels = o['levels'] === undefined ? { ...DEFAULT_LEVEL_OPTIONS } : optionMap('levels', (k) => k.toUpperCase());
  const probation = o['probation'] !== undefined ? str('probation', ['Number', 'Selector']) : undefined;
  let probationOptions: Record<string, string> | undefined;
  if (probation && kindOf(probation) === 'Selector') {
    probationOptions = optionMap('probationOptions', (k) => {
      if (!/^\d{1,2}$/.test(k)) throw new FormConfigError(`WECOM_OFFER_CONTROLS.probationOptions.${k}: months as digits`);
      return String(Number(k));
    });
  }
  return {
    candidate: str('candidate'),
    position: str('position'),
    salary: str('salary'),
    startDate: str('startDate'),
    level: str('level'),
    levels,
    remark: str('remark'),
    ...(o['bonus'] !== undefined ? { bonus: str('bonus', ['Money', 'Text']) } : {}),
    ...(probation ? { probation } : {}),
    ...(probationOptions ? { probationOptions } : {}),
    ...(o['contentHash'] !== undefined ? { contentHash: str('contentHash', ['Text']) } : {}),
  };
}

/** The control kind a control id starts with (`Selector-1700000000005` → `Selector`). */
function kindOf(id: string): string {
  return id.slice(0, id.indexOf('-'));
}

/** The line of the remark that carries the hash: the approver reads it, reconciliation matches it. */
export const HASH_LABEL = '内容哈希（SHA-256）：';
const HASH_LINE = /内容哈希（SHA-256）：([0-9a-f]{64})/;

/** Start date `YYYY-MM-DD` as WeCom's day timestamp: 00:00 Asia/Shanghai, Unix seconds. */
export function dayTimestamp(date: string): number {
  return Date.parse(`${date}T00:00:00+08:00`) / 1000;
}

/** The form's text: every term, then the hash and the offer/version it belongs to. */
export function remarkText(c: OfferContent, sha: string, offerId: string, version: number): string {
  const lines = [
    `月基本工资：${yuan(c.base_monthly_yuan)}/月 × ${c.salary_months} 薪`,
    `年度目标奖金：${bonusText(c)}`,
    `职级：${c.level}；部门：${c.department}；工作地点：${c.location}`,
    `入职日期：${c.start_date}；试用期：${c.probation_months} 个月`,
    `接受截止时间：${c.acceptance_deadline ?? '无'}`,
    ...(c.terms ? [`其他条款：${c.terms}`] : []),
    `Offer：${offerId} 第 ${version} 版`,
    `${HASH_LABEL}${sha}`,
  ];
  return lines.join('\n');
}

/** The bonus as one line of text: `¥60,000（按绩效发放）`, or `无`, as the remark shows it. */
export function bonusText(c: OfferContent): string {
  const amount = c.annual_bonus_target_yuan === null ? '无' : yuan(c.annual_bonus_target_yuan);
  return `${amount}${c.bonus_note ? `（${c.bonus_note}）` : ''}`;
}

export function applyContents(
  controls: OfferControls,
  args: { content: OfferContent; sha: string; offerId: string; version: number; candidateId: string },
): ApplyContent[] {
  const c = args.content;
  const option = controls.levels[c.level.toUpperCase()];
  if (!option) throw new FormConfigError(`审批模板没有职级 ${c.level} 的选项（WECOM_OFFER_CONTROLS.levels）`);
  const out: ApplyContent[] = [
    { control: 'Text', id: controls.candidate, value: { text: args.candidateId } },
    { control: 'Text', id: controls.position, value: { text: c.position_id } },
    { control: 'Money', id: controls.salary, value: { new_money: String(c.base_monthly_yuan) } },
    {
      control: 'Date',
      id: controls.startDate,
      value: { date: { type: 'day', s_timestamp: String(dayTimestamp(c.start_date)) } },
    },
    { control: 'Selector', id: controls.level, value: { selector: { type: 'single', options: [{ key: option }] } } },
    { control: 'Textarea', id: controls.remark, value: { text: remarkText(c, args.sha, args.offerId, args.version) } },
  ];
  if (controls.bonus) {
    if (kindOf(controls.bonus) === 'Text') out.push({ control: 'Text', id: controls.bonus, value: { text: bonusText(c) } });
    // A Money control cannot say "none": left out, the form shows it empty (the remark says 无).
    else if (c.annual_bonus_target_yuan !== null)
      out.push({ control: 'Money', id: controls.bonus, value: { new_money: String(c.annual_bonus_target_yuan) } });
  }
  if (controls.probation) {
    if (kindOf(controls.probation) === 'Selector') {
      const key = controls.probationOptions?.[String(c.probation_months)];
      if (!key) {
        throw new FormConfigError(
          `审批模板的试用期没有 ${c.probation_months} 个月的选项（WECOM_OFFER_CONTROLS.probationOptions）`,
        );
      }
      out.push({ control: 'Selector', id: controls.probation, value: { selector: { type: 'single', options: [{ key }] } } });
    } else {
      out.push({ control: 'Number', id: controls.probation, value: { new_number: String(c.probation_months) } });
    }
  }
  if (controls.contentHash) out.push({ control: 'Text', id: controls.contentHash, value: { text: args.sha } });
  return out;
}

/** The content hash and offer version a form carries (from getapprovaldetail), or null when it has none. */
export function formIdentity(
  detail: ApprovalDetail,
  controls: OfferControls,
): { sha: string; offerId: string; version: number } | null {
  const textOf = (id: string): unknown =>
    (detail.apply_data.contents.find((x) => x.id === id)?.value as { text?: unknown } | undefined)?.text;
  const text = textOf(controls.remark);
  if (typeof text !== 'string') return null;
  const h = HASH_LINE.exec(text);
  const o = /Offer：(of_[0-9a-f]{32}) 第 (\d+) 版/.exec(text);
  if (!h?.[1] || !o?.[1] || !o[2]) return null;
  // A form whose hash control says otherwise than its remark approves neither (an edited form, or
  // not ours): no content is matched. An empty control (a form filed before it was configured) is fine.
  if (controls.contentHash) {
    const alone = textOf(controls.contentHash);
    if (typeof alone === 'string' && alone !== '' && alone !== h[1]) return null;
  }
  return { sha: h[1], offerId: o[1], version: Number(o[2]) };
}
