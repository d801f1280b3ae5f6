/**
 * 审批 APIs: oa/gettemplatedetail (doc 91982), oa/applyevent (91853), oa/getapprovaldetail (91983),
 * oa/getapprovalinfo (91816). A successful applyevent also fires sys_approval_change with
 * StatuChangeEvent=1 (提单), as WeCom does for every state change including submission.
 */
import type { FastifyInstance } from 'fastify';
import { fireApprovalChange, type SandboxContext } from '../actions';
import { isRecord } from '../applydata';
import { approvalDetailJson, CHANGE_EVENT } from '../approvals';
import { OK, WecomApiError } from '../errors';
import type { LangText, ProcessNodeInput } from '../seed';
import type { SandboxState } from '../state';
import { bodyOf, optInt, optString, type Json } from './common';

const MAX_SPAN_SECONDS = 31 * 86400;
const FILTER_KEYS = ['template_id', 'creator', 'department', 'sp_status', 'record_type'];

function parseUserList(state: SandboxState, v: unknown, where: string): string[] {
  if (!Array.isArray(v) || v.length === 0) throw new WecomApiError(301025, `${where}.userid must be a non-empty array`);
  return v.map((u) => {
    if (typeof u !== 'string' || !state.memberInScope(u))
      throw new WecomApiError(301025, `${where}: invalid userid ${String(u)}`);
    return state.member(u)?.userid ?? u;
  });
}

/** `process.node_list` (current format) or the legacy `approver` / `notifyer` arrays still used by SDKs. */
function parseProcess(state: SandboxState, body: Json): ProcessNodeInput[] {
  const process = body['process'];
  if (isRecord(process)) {
    const list = process['node_list'];
    if (!Array.isArray(list) || list.length === 0) throw new WecomApiError(301025, 'process.node_list is empty');
    const nodes = list.map((n: unknown, i): ProcessNodeInput => {
      if (!isRecord(n)) throw new WecomApiError(301025, `process.node_list[${i}]`);
      const type = n['type'];
      if (type !== 1 && type !== 2 && type !== 3)
        throw new WecomApiError(301025, `process.node_list[${i}].type must be 1, 2 or 3`);
      const apv = n['apv_rel'];
      if (type !== 2 && apv !== 1 && apv !== 2 && apv !== 3)
        throw new WecomApiError(301025, `process.node_list[${i}].apv_rel required for approver/handler nodes`);
      const userid = parseUserList(state, n['userid'], `process.node_list[${i}]`);
      return type === 2 ? { type, userid } : { type, apv_rel: apv === 1 || apv === 3 ? apv : 2, userid };
    });
    if (!nodes.some((n) => n.type !== 2)) throw new WecomApiError(301025, 'process needs at least one approver node');
    return nodes;
  }
  const approver = body['approver'];
  if (Array.isArray(approver) && approver.length > 0) {
    const nodes: ProcessNodeInput[] = approver.map((a: unknown, i) => {
      if (!isRecord(a)) throw new WecomApiError(301025, `approver[${i}]`);
      // Legacy attr: 1 或签, 2 会签 → apv_rel 2 / 1.
      const attr = a['attr'];
      if (attr !== 1 && attr !== 2) throw new WecomApiError(301025, `approver[${i}].attr must be 1 or 2`);
      return { type: 1, apv_rel: attr === 1 ? 2 : 1, userid: parseUserList(state, a['userid'], `approver[${i}]`) };
    });
    const notifyer = body['notifyer'];
    if (Array.isArray(notifyer) && notifyer.length > 0)
      nodes.push({ type: 2, userid: parseUserList(state, notifyer, 'notifyer') });
    return nodes;
  }
  throw new WecomApiError(301025, 'process is required when use_template_approver is 0');
}

function parseSummary(v: unknown): { summary_info: LangText[] }[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length > 3) throw new WecomApiError(301025, 'summary_list at most 3 lines');
  return v.map((line: unknown, i) => {
    const info = isRecord(line) ? line['summary_info'] : undefined;
    if (!Array.isArray(info) || info.length === 0) throw new WecomApiError(301025, `summary_list[${i}].summary_info`);
    return {
      summary_info: info.map((t: unknown): LangText => {
        if (!isRecord(t) || typeof t['text'] !== 'string')
          throw new WecomApiError(301025, `summary_list[${i}].summary_info[].text`);
        const lang = t['lang'] ?? 'zh_CN';
        // A classic bug: "zh-CN" (hyphen) instead of "zh_CN".
        if (lang !== 'zh_CN' && lang !== 'en')
          // eslint-disable-next-line @typescript-eslint/no-base-to-string -- echoes whatever the caller sent, as WeCom does
          throw new WecomApiError(301025, `summary_list lang must be zh_CN or en, got ${String(lang)}`);
        if ([...t['text']].length > 20) throw new WecomApiError(301025, 'summary_list text at most 20 characters');
        return { text: t['text'], lang };
      }),
    };
  });
}

/** Opaque paging cursor for getapprovalinfo: base64url("o:<offset>"). */
function encodeCursor(offset: number): string {
  return Buffer.from(`o:${offset}`).toString('base64url');
}

function decodeCursor(c: string | undefined): number {
  if (!c) return 0;
  const m = /^o:(\d+)$/.exec(Buffer.from(c, 'base64url').toString());
  if (!m?.[1]) throw new WecomApiError(301025, 'invalid new_cursor');
  return Number(m[1]);
}

export function registerOaRoutes(app: FastifyInstance, ctx: SandboxContext): void {
  const { state } = ctx;

  app.post('/cgi-bin/oa/gettemplatedetail', async (req) => {
    const body = bodyOf(req);
    const id = optString(body, 'template_id');
    const t = id ? state.templates.get(id) : undefined;
    if (!t) throw new WecomApiError(301025, 'invalid template_id');
    return { ...OK, template_names: t.template_names, template_content: { controls: t.controls } };
  });

  app.post('/cgi-bin/oa/applyevent', async (req) => {
    const body = bodyOf(req);
    const creator = optString(body, 'creator_userid');
    if (!creator) throw new WecomApiError(301025, 'creator_userid missing');
    const member = state.member(creator);
    if (!member || !state.memberInScope(member.userid)) throw new WecomApiError(301055);
    const templateId = optString(body, 'template_id');
    const template = templateId ? state.templates.get(templateId) : undefined;
    if (!template) throw new WecomApiError(301025, 'invalid template_id');
    const useTemplate = optInt(body, 'use_template_approver') ?? 0;
    if (useTemplate !== 0 && useTemplate !== 1) throw new WecomApiError(301025, 'use_template_approver must be 0 or 1');
    const process = useTemplate === 1 ? template.default_process : parseProcess(state, body);
    const dept = optInt(body, 'choose_department');
    if (dept !== undefined && !member.department.includes(dept))
      throw new WecomApiError(301025, `choose_department ${dept} is not a department of ${member.userid}`);
    const applyData = body['apply_data'];
    if (!isRecord(applyData)) throw new WecomApiError(301025, 'apply_data missing');
    const summary = parseSummary(body['summary_list']);
    const approval = state.createApproval({
      creator_userid: member.userid,
      template,
      process,
      contents: applyData['contents'],
      ...(summary ? { summary_list: summary } : {}),
      ...(dept !== undefined ? { choose_department: dept } : {}),
    });
    fireApprovalChange(ctx, approval, CHANGE_EVENT.submitted);
    return { ...OK, sp_no: approval.sp_no };
  });

  app.post('/cgi-bin/oa/getapprovaldetail', async (req) => {
    const body = bodyOf(req);
    const spNo = optString(body, 'sp_no');
    const a = spNo ? state.approvals.get(spNo) : undefined;
    if (!a) throw new WecomApiError(301025, 'invalid sp_no');
    if (!state.memberInScope(a.applyer.userid)) throw new WecomApiError(301055);
    return { ...OK, info: approvalDetailJson(a) };
  });

  app.post('/cgi-bin/oa/getapprovalinfo', async (req) => {
    const body = bodyOf(req);
    const start = optInt(body, 'starttime');
    const end = optInt(body, 'endtime');
    if (start === undefined || end === undefined) throw new WecomApiError(301025, 'starttime and endtime are required');
    if (end < start) throw new WecomApiError(301025, 'endtime earlier than starttime');
    if (end - start > MAX_SPAN_SECONDS) throw new WecomApiError(301112);
    const size = optInt(body, 'size') ?? 100;
    if (size < 1 || size > 100) throw new WecomApiError(301025, 'size must be 1..100');
    // `new_cursor` (opaque) is current; `cursor` (an integer offset, answered by `next_cursor`) is the
    // deprecated pair older SDKs still send. new_cursor wins when both are given.
    const newCursor = optString(body, 'new_cursor');
    const legacyCursor = newCursor ? undefined : optInt(body, 'cursor');
    if (legacyCursor !== undefined && legacyCursor < 0) throw new WecomApiError(301025, 'invalid cursor');
    const offset = legacyCursor ?? decodeCursor(newCursor);

    const filters = body['filters'] ?? [];
    if (!Array.isArray(filters)) throw new WecomApiError(301025, 'filters must be an array');
    const seen = new Set<string>();
    const departments: string[] = [];
    const single = new Map<string, string>();
    for (const f of filters) {
      if (!isRecord(f) || typeof f['key'] !== 'string' || !FILTER_KEYS.includes(f['key']))
        throw new WecomApiError(301025, 'invalid filter key');
      const key = f['key'];
      // eslint-disable-next-line @typescript-eslint/no-base-to-string -- a filter value is compared as text, whatever was sent
      const value = String(f['value'] ?? '');
      if (key === 'department') departments.push(value);
      else {
        // Only `department` may repeat (doc 91816).
        if (seen.has(key)) throw new WecomApiError(301025, `filter ${key} repeated`);
        seen.add(key);
        single.set(key, value);
      }
    }
    const creator = single.get('creator');
    if (creator !== undefined && !state.memberInScope(creator)) throw new WecomApiError(301055);

    const all = [...state.approvals.values()]
      .filter((a) => a.apply_time >= start && a.apply_time <= end)
      // A self-built app only sees forms whose applicant is in its visible scope.
      .filter((a) => state.memberInScope(a.applyer.userid))
      .filter((a) => (single.has('template_id') ? a.template_id === single.get('template_id') : true))
      .filter((a) => (creator !== undefined ? a.applyer.userid.toLowerCase() === creator.toLowerCase() : true))
      .filter((a) => (single.has('sp_status') ? String(a.sp_status) === single.get('sp_status') : true))
      // record_type filters system template kinds (请假, 出差...); a custom offer template never matches one.
      .filter(() => !single.has('record_type'))
      .filter((a) => (departments.length > 0 ? departments.includes(a.applyer.partyid) : true))
      .sort((x, y) => x.apply_time - y.apply_time || x.sp_no.localeCompare(y.sp_no));
    const page = all.slice(offset, offset + size);
    const more = offset + size < all.length;
    return {
      ...OK,
      sp_no_list: page.map((a) => a.sp_no),
      ...(more ? { new_next_cursor: encodeCursor(offset + size) } : {}),
      ...(more && legacyCursor !== undefined ? { next_cursor: offset + size } : {}),
    };
  });
}
