import { createHash } from 'node:crypto';
import { beijingTime, yuan, type OfferContent } from '../offers';

/**
 * The text the acceptance page shows, rendered here (not in the page) so that what the candidate
 * saw is one string the server can reproduce: the page shows it verbatim and posts back its
 * SHA-256, the server compares it with its own rendering of the same version, and the acceptance
 * record keeps the text and its hash. A change of this rendering is a new `SHOWN_TEXT_FORMAT`.
 */

export const SHOWN_TEXT_FORMAT = 'offer.shown_text/1';

/** The binding wording (LEGAL.md: an offer with a deadline, accepted by a click that is a 数据电文, not an e-signature). */
export const BINDING_CLAUSE =
  '本录用通知是公司经审批后正式发出的要约（offer），以上条款即经审批的条款。' +
  '在接受截止时间前点击「接受」，即表示您承诺接受以上全部条款；规定了接受截止时间的，公司在截止时间前一般不得撤销本要约（《民法典》第476条）。' +
  '您的答复将连同时间、IP 地址、设备信息（User-Agent）、您填写的姓名与手机号（手机号仅以加密摘要和部分隐藏的形式保存）以及本页文本的哈希一并存证。' +
  '点击「接受」不等同于签订劳动合同，劳动合同将在入职时另行签订。';

export interface ShownTextInput {
  content: OfferContent;
  version: number;
  contentSha256: string;
  positionTitle: string | null;
  companyName: string | null;
}

export function shownText(i: ShownTextInput): string {
  const c = i.content;
  const lines = [
    '正式录用通知（Offer）',
    ...(i.companyName ? [`公司：${i.companyName}`] : []),
    `职位：${i.positionTitle ?? c.position_id}`,
    `部门：${c.department}`,
    `职级：${c.level}`,
    `工作地点：${c.location}`,
    `月基本工资（税前）：${yuan(c.base_monthly_yuan)}/月`,
    `年薪月数：${c.salary_months} 薪`,
    `年度目标奖金：${c.annual_bonus_target_yuan === null ? '无' : yuan(c.annual_bonus_target_yuan)}`,
    ...(c.bonus_note === '' ? [] : [`奖金说明：${c.bonus_note}`]),
    `试用期：${c.probation_months === 0 ? '无试用期' : `${c.probation_months} 个月`}`,
    `入职日期：${c.start_date}`,
    `接受截止时间：${c.acceptance_deadline === null ? '未规定' : beijingTime(c.acceptance_deadline)}`,
    ...(c.terms === '' ? [] : [`其他条款：${c.terms}`]),
    '',
    BINDING_CLAUSE,
    '',
    `第 ${i.version} 版，条款内容哈希（SHA-256）：${i.contentSha256}`,
  ];
  return lines.join('\n');
}

export function textSha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}
