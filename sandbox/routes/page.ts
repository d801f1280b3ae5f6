/**
 * GET /sandbox/ — a small console (Chinese UI): pending approvals with 同意/驳回 buttons, messages the app
 * sent, callback delivery log, and forms that simulate members and candidates. Buttons post HTML forms to
 * the admin API, which redirects back here.
 */
import type { FastifyInstance } from 'fastify';
import type { SandboxContext } from '../actions';
import { pendingApprovers, SP_STATUS_ZH, type Approval } from '../approvals';
import { OFFER_CONTROLS } from '../seed';
import { esc, htmlPage } from './html';

function time(ms: number): string {
  // Beijing time, second precision: enough to read a log.
  return new Date(ms + 8 * 3600_000).toISOString().replace('T', ' ').slice(0, 19);
}

function contentText(a: Approval, id: string): string {
  const v = a.contents.find((c) => c.id === id)?.value;
  if (!v) return '';
  if (typeof v['text'] === 'string') return v['text'];
  if (typeof v['new_money'] === 'string') return `¥${v['new_money']}`;
  return '';
}

export function registerPageRoutes(app: FastifyInstance, ctx: SandboxContext): void {
  const { state } = ctx;
  const nameOf = (userid: string): string => state.member(userid)?.name ?? userid;

  app.get('/sandbox', async (_req, reply) => reply.redirect('/sandbox/', 302));

  app.get('/sandbox/', async (_req, reply) => {
    const approvals = [...state.approvals.values()].sort((x, y) => y.apply_time - x.apply_time);
    const pendingRows = approvals
      .filter((a) => a.sp_status === 1)
      .map((a) => {
        const approvers = pendingApprovers(a);
        const options = approvers.map((u) => `<option value="${esc(u)}">${esc(nameOf(u))}（${esc(u)}）</option>`).join('');
        return `<tr><td><code>${esc(a.sp_no)}</code><br><span class="muted">${esc(time(a.apply_time * 1000))}</span></td>
<td>${esc(a.sp_name)}</td><td>${esc(contentText(a, OFFER_CONTROLS.candidate))}</td><td>${esc(contentText(a, OFFER_CONTROLS.position))}</td>
<td>${esc(contentText(a, OFFER_CONTROLS.salary))}</td><td>${esc(nameOf(a.applyer.userid))}</td>
<td><form method="post" action="/sandbox/admin/approvals/${esc(a.sp_no)}/approve">
<select name="userid">${options}</select> <input name="speech" placeholder="审批意见" size="10">
<button class="ok" type="submit">同意</button>
<button class="no" type="submit" formaction="/sandbox/admin/approvals/${esc(a.sp_no)}/reject">驳回</button></form></td></tr>`;
      })
      .join('');
    const doneRows = approvals
      .filter((a) => a.sp_status !== 1)
      .slice(0, 20)
      .map(
        (a) =>
          `<tr><td><code>${esc(a.sp_no)}</code></td><td>${esc(contentText(a, OFFER_CONTROLS.candidate))}</td><td>${esc(SP_STATUS_ZH[a.sp_status] ?? a.sp_status)}</td><td>${esc(nameOf(a.applyer.userid))}</td></tr>`,
      )
      .join('');
    const messageRows = state.sentMessages
      .slice(-30)
      .reverse()
      .map((m) => {
        const part = m.request[m.msgtype];
        const rec = typeof part === 'object' && part !== null ? (part as Record<string, unknown>) : {};
        // eslint-disable-next-line @typescript-eslint/no-base-to-string -- a one-line preview of whatever the app sent
        const summary = String(rec['content'] ?? rec['title'] ?? rec['card_type'] ?? '');
        const dropped =
          m.droppedByRateLimit.length > 0
            ? `<br><span class="tag">被限频丢弃：${esc(m.droppedByRateLimit.join('、'))}</span>`
            : '';
        const invalid =
          m.invaliduser.length > 0 ? `<br><span class="muted">无效成员：${esc(m.invaliduser.join('|'))}</span>` : '';
        return `<tr><td>${esc(time(m.atMs))}</td><td>${esc(m.msgtype)}</td><td>${esc(m.delivered.map(nameOf).join('、'))}${dropped}${invalid}</td><td>${esc(summary.slice(0, 80))}</td></tr>`;
      })
      .join('');
    const callbackRows = state.callbacks
      .slice(-30)
      .reverse()
      .map((c) => {
        const attempts = c.attempts
          .map((a) => `#${a.attempt} ${a.status ?? '-'} ${a.durationMs}ms${a.error ? ` ${esc(a.error)}` : ''}`)
          .join('<br>');
        const statusZh = { pending: '投递中', delivered: '已送达', failed: '失败', skipped: '未配置回调地址' }[c.status];
        return `<tr><td>${c.id}</td><td>${esc(time(c.createdAtMs))}</td><td>${esc(c.kind)}</td><td>${esc(c.summary)}</td><td>${esc(statusZh)}</td><td>${attempts || '<span class="muted">无</span>'}</td></tr>`;
      })
      .join('');
    const memberOptions = [...state.members.values()]
      .filter((m) => state.memberInScope(m.userid))
      .map((m) => `<option value="${esc(m.userid)}">${esc(m.name)}（${esc(m.userid)}）</option>`)
      .join('');
    const candidateOptions = [...state.externalContacts.values()]
      .map((c) => `<option value="${esc(c.external_userid)}">${esc(c.name)}（${esc(c.external_userid)}）</option>`)
      .join('');
    const nameOfContact = (id: unknown): string => (typeof id === 'string' ? (state.externalContacts.get(id)?.name ?? id) : '');
    const kfItems: { atMs: number; who: string; contact: string; text: string }[] = [
      ...state.kfMessages.map((m) => {
        const msg = m.msg;
        const ev =
          typeof msg['event'] === 'object' && msg['event'] !== null ? (msg['event'] as Record<string, unknown>) : undefined;
        const body = msg[msg.msgtype];
        const content = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)['content'] : undefined;
        const who =
          msg.origin === 3
            ? '候选人'
            : msg.origin === 5
              ? `招聘者 ${nameOf(typeof msg['servicer_userid'] === 'string' ? msg['servicer_userid'] : '')}`
              : `系统事件 ${typeof ev?.['event_type'] === 'string' ? ev['event_type'] : ''}`;
        return {
          atMs: msg.send_time * 1000,
          who,
          contact: nameOfContact(msg['external_userid'] ?? ev?.['external_userid']),
          text: typeof content === 'string' ? content : `[${msg.msgtype}]`,
        };
      }),
      ...state.kfSent.map((m) => {
        const content =
          typeof m.body === 'object' && m.body !== null ? (m.body as Record<string, unknown>)['content'] : undefined;
        return {
          atMs: m.atMs,
          who: '应用（kf/send_msg）',
          contact: nameOfContact(m.touser),
          text: typeof content === 'string' ? content : `[${m.msgtype}]`,
        };
      }),
    ];
    const kfRows = kfItems
      .sort((a, b) => a.atMs - b.atMs)
      .slice(-30)
      .reverse()
      .map(
        (k) =>
          `<tr><td>${esc(time(k.atMs))}</td><td>${esc(k.who)}</td><td>${esc(k.contact)}</td><td>${esc(k.text.slice(0, 80))}</td></tr>`,
      )
      .join('');
    const s = state.stats;
    const body = `
<section><h2>概况</h2>
<p>企业 <b>${esc(state.corpName)}</b> · CorpID <code>${esc(state.corpId)}</code> · AgentID <code>${state.agentId}</code> · access_token 有效期 ${state.tokenTtlSeconds} 秒</p>
<form method="post" action="/sandbox/admin/callback-url">回调地址：<input name="url" size="60" value="${esc(state.callbackUrl ?? '')}" placeholder="http://127.0.0.1:3000/wecom/callback"> <button class="ok">保存</button></form>
<p class="muted">gettoken ${s.gettoken} 次 · 已投递消息 ${s.messagesDelivered} · 限频丢弃 ${s.messagesDroppedByRateLimit} · 去重 ${s.duplicatesSuppressed} · 注入故障 ${s.faultsInjected} · 回调成功 ${s.callbacksDelivered} / 失败 ${s.callbacksFailed}</p>
<form method="post" action="/sandbox/admin/tokens/invalidate"><button class="no">让所有 access_token 立即失效（下次调用返回 40014）</button></form></section>
<section><h2>待审批（录用审批）</h2>
<table><tr><th>审批编号</th><th>模板</th><th>候选人</th><th>岗位</th><th>月薪</th><th>申请人</th><th>操作（当前节点审批人）</th></tr>${pendingRows || '<tr><td colspan="7" class="muted">暂无待审批</td></tr>'}</table>
<h2 style="margin-top:14px">已结束</h2><table><tr><th>审批编号</th><th>候选人</th><th>状态</th><th>申请人</th></tr>${doneRows || '<tr><td colspan="4" class="muted">暂无</td></tr>'}</table></section>
<section><h2>模拟操作</h2>
<form method="post" action="/sandbox/admin/app-messages">成员给应用发消息：<select name="userid">${memberOptions}</select> <input name="content" placeholder="消息内容" size="30"> <button class="ok">发送</button></form><br>
<h3>微信客服会话（以候选人或招聘者身份输入）</h3>
<form method="post" action="/sandbox/admin/kf/messages">候选人：<select name="external_userid">${candidateOptions}</select>
发送方：<select name="origin"><option value="3">候选人（微信用户）</option><option value="5">招聘者（企业微信客户端接待）</option></select>
接待人员：<select name="servicer_userid">${memberOptions}</select>
<input name="content" placeholder="消息内容" size="30"> <button class="ok">发送</button></form><br>
<form method="post" action="/sandbox/admin/kf/messages"><input type="hidden" name="event" value="enter_session">候选人通过客服链接进入会话：<select name="external_userid">${candidateOptions}</select> <input name="scene_param" placeholder="scene_param（如 pos:职位编号）" size="24"> <button class="ok">进入会话</button></form>
<table style="margin-top:8px"><tr><th>时间</th><th>发送方</th><th>候选人</th><th>内容</th></tr>${kfRows || '<tr><td colspan="4" class="muted">暂无客服消息</td></tr>'}</table></section>
<section><h2>应用最近发出的消息</h2>
<table><tr><th>时间</th><th>类型</th><th>接收人</th><th>内容</th></tr>${messageRows || '<tr><td colspan="4" class="muted">暂无</td></tr>'}</table></section>
<section><h2>回调投递记录</h2>
<table><tr><th>#</th><th>时间</th><th>事件</th><th>说明</th><th>状态</th><th>尝试（HTTP状态 耗时 错误）</th></tr>${callbackRows || '<tr><td colspan="6" class="muted">暂无</td></tr>'}</table></section>`;
    return reply.type('text/html; charset=utf-8').send(htmlPage('企业微信沙箱 · HireLedger', body));
  });
}
