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
  /** Text (optional): the content hash alone, when the template has such a control. */
  contentHash?: string;
}

export class FormConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FormConfigError';
  }
}

/** WECOM_OFFER_CONTROLS: JSON `{"candidate": "Text-…", …, "levels": {"P6": "option-…"}}`. */
export function parseOfferControls(json: string): OfferControls {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    throw new FormConfigError('WECOM_OFFER_CONTROLS is not JSON');
  }
  if (typeof v !== 'object' || v === null) throw new FormConfigError('WECOM_OFFER_CONTROLS must be an object');
  const o = v as Record<string, unknown>;
  const str = (k: string): string => {
    const s = o[k];
    if (typeof s !== 'string' || !/^[A-Za-z]+-\d{1,20}$/.test(s))
      throw new FormConfigError(`WECOM_OFFER_CONTROLS.${k} must be a control id`);
    return s;
  };
  const levels = o['levels'];
  if (typeof levels !== 'object' || levels === null || Array.isArray(levels)) {
    throw new FormConfigError('WECOM_OFFER_CONTROLS.levels must map levels to option keys');
  }
  const lv: Record<string, string> = {};
  for (const [k, key] of Object.entries(levels)) {
    if (typeof key !== 'string' || key === '')
      throw new FormConfigError(`WECOM_OFFER_CONTROLS.levels.${k} must be an option key`);
    lv[k.toUpperCase()] = key;
  }
  return {
    candidate: str('candidate'),
    position: str('position'),
    salary: str('salary'),
    startDate: str('startDate'),
    level: str('level'),
    levels: lv,
    remark: str('remark'),
    ...(o['contentHash'] !== undefined ? { contentHash: str('contentHash') } : {}),
  };
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
    `年度目标奖金：${c.annual_bonus_target_yuan === null ? '无' : yuan(c.annual_bonus_target_yuan)}${c.bonus_note ? `（${c.bonus_note}）` : ''}`,
    `职级：${c.level}；部门：${c.department}；工作地点：${c.location}`,
    `入职日期：${c.start_date}；试用期：${c.probation_months} 个月`,
    `接受截止时间：${c.acceptance_deadline ?? '无'}`,
    ...(c.terms ? [`其他条款：${c.terms}`] : []),
    `Offer：${offerId} 第 ${version} 版`,
    `${HASH_LABEL}${sha}`,
  ];
  return lines.join('\n');
}

export function applyContents(
  controls: OfferControls,
  args: { content: OfferContent; sha: string; offerId: string; version: number; candidateId: string },
): ApplyContent[] {
  const c = args.content;
  const option = controls.levels[c.level.toUpperCase()];
  if (!option) throw new FormConfigError(`审批模板没有职级 ${c.level} 的选项（WECOM_OFFER_CONTROLS.levels）`);
  return [
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
    ...(controls.contentHash ? [{ control: 'Text', id: controls.contentHash, value: { text: args.sha } }] : []),
  ];
}

/** The content hash and offer version a form carries (from getapprovaldetail), or null when it has none. */
export function formIdentity(
  detail: ApprovalDetail,
  controls: OfferControls,
): { sha: string; offerId: string; version: number } | null {
  const remark = detail.apply_data.contents.find((x) => x.id === controls.remark);
  const text = (remark?.value as { text?: unknown } | undefined)?.text;
  if (typeof text !== 'string') return null;
  const h = HASH_LINE.exec(text);
  const o = /Offer：(of_[0-9a-f]{32}) 第 (\d+) 版/.exec(text);
  if (!h?.[1] || !o?.[1] || !o[2]) return null;
  return { sha: h[1], offerId: o[1], version: Number(o[2]) };
}
