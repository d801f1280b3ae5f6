import { CHANNEL_LABEL, ROLE_LABEL, type CompletenessReport, type TimelineRole } from '../../timeline';
import type { DocumentModel, TimelineRow } from './model';
import { APPROVED_DIVIDER, STAGE_LABEL, type StageKey } from './stages';
import { beijing, html, utc } from './text';
import type { LegalDocumentsInput } from './types';

/**
 * timeline.html: one self-contained page (inline CSS, no script, no font or link to fetch) that
 * prints on A4, in Chinese. Every value from a record goes through `html()`. Hashes are set in a
 * monospace font on a line of their own, so a reader (and pdftotext) sees all 64 hex digits together.
 */

export const CJK_SANS = '"Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC", sans-serif';
const CJK_SERIF = '"Noto Serif CJK SC", "Source Han Serif SC", "SimSun", "Songti SC", serif';
const MONO = '"Noto Sans Mono CJK SC", "DejaVu Sans Mono", "Consolas", monospace';

const STAGE_COLOUR: Readonly<Record<StageKey, { row: string; badge: string }>> = {
  interview: { row: '#eef5ff', badge: '#2f6fd0' },
  intent: { row: '#f1ecff', badge: '#6a4bc4' },
  approval: { row: '#fff6e0', badge: '#b27700' },
  approved: { row: '#ffefcc', badge: '#a05a00' },
  offer: { row: '#e6f6ea', badge: '#1f7a3a' },
  accepted: { row: '#d9f2e1', badge: '#146b2e' },
  declined: { row: '#fde8e8', badge: '#b3261e' },
  rescinded: { row: '#fde8e8', badge: '#b3261e' },
  reneged: { row: '#fde8e8', badge: '#b3261e' },
  resigned: { row: '#ffe3d6', badge: '#c2410c' },
  over_promise: { row: '#ffe3d6', badge: '#c2410c' },
};

const STYLE = `
@page { size: A4; margin: 16mm 12mm 16mm 12mm; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { font-family: ${CJK_SANS}; font-size: 9pt; line-height: 1.45; color: #111; margin: 0; }
h1 { font-family: ${CJK_SERIF}; font-size: 18pt; margin: 0 0 4mm; }
h2 { font-family: ${CJK_SERIF}; font-size: 13pt; margin: 7mm 0 3mm; padding-bottom: 1mm; border-bottom: 1.5pt solid #333; break-after: avoid; }
h3 { font-size: 10pt; margin: 4mm 0 2mm; break-after: avoid; }
p { margin: 1.5mm 0; }
section.cover { break-after: page; }
table { width: 100%; border-collapse: collapse; margin: 2mm 0; }
th, td { border: 0.5pt solid #999; padding: 1mm 1.5mm; vertical-align: top; text-align: left; overflow-wrap: break-word; }
thead th { background: #e9ecef; font-weight: bold; overflow-wrap: normal; }
thead { display: table-header-group; }
tr, tbody.entry { break-inside: avoid; }
table.kv th { width: 32mm; background: #f4f5f7; }
.mono, code { font-family: ${MONO}; font-size: 7pt; }
pre.key { font-family: ${MONO}; font-size: 7pt; white-space: pre-wrap; word-break: break-all; margin: 1mm 0; }
/* A hash never wraps: its 64 digits stay on one line for the reader and for pdftotext. */
td.hash { font-family: ${MONO}; font-size: 7pt; white-space: nowrap; overflow-wrap: normal; color: #333; border-top: none; padding-top: 0; }
/* A class, not :has(td.hash): :has() over thousands of rows costs Chromium's layout seconds. */
tbody.with-hash td.main { border-bottom: none; }
td.seq, td.no { white-space: nowrap; text-align: right; }
td.blank { min-width: 25mm; }
table.evidence, table.timeline { table-layout: fixed; }
th.c-no { width: 9mm; } th.c-source { width: 30mm; } th.c-purpose { width: 28mm; } th.c-where { width: 52mm; }
th.c-time { width: 21mm; } th.c-who { width: 36mm; } th.c-channel { width: 15mm; } th.c-seq { width: 11mm; }
td.channel { white-space: nowrap; }
.badge { display: inline-block; color: #fff; font-weight: bold; font-size: 8pt; padding: 0 1.5mm; border-radius: 1mm; margin-right: 1mm; }
tr.divider td { background: #333; color: #fff; text-align: center; font-weight: bold; font-size: 10pt; padding: 1.5mm; }
.note { color: #444; font-size: 8pt; }
.warn { color: #b3261e; font-weight: bold; }
${(Object.keys(STAGE_COLOUR) as StageKey[])
  .map(
    (k) =>
      `tbody.stage-${k} td { background: ${STAGE_COLOUR[k].row}; } .badge.stage-${k} { background: ${STAGE_COLOUR[k].badge}; }`,
  )
  .join('\n')}
`;

const COLS = 5;

function kv(rows: [string, string][]): string {
  return `<table class="kv"><tbody>${rows.map(([k, v]) => `<tr><th>${html(k)}</th><td>${v}</td></tr>`).join('')}</tbody></table>`;
}

function mono(s: string): string {
  return `<span class="mono">${html(s)}</span>`;
}

function cover(input: LegalDocumentsInput, model: DocumentModel): string {
  const cp = input.checkpoint;
  return `<section class="cover">
<h1>候选人证据时间线</h1>
<p class="note">本文件由 HireLedger 依据证据包中的记录生成，供阅读；证据以 records.jsonl 中的记录及其签名检查点为准。所有时间均为北京时间（Asia/Shanghai，UTC+08:00）。</p>
<h2>概要</h2>
${kv([
  ['候选人', html(model.candidateName || '（档案中无姓名）')],
  ['企业微信外部联系人 ID', mono(input.candidate.externalUserId)],
  ['候选人编号', mono(input.candidate.id)],
  ['记录流', mono((input.candidate.streams ?? [input.candidate.stream]).join(', '))],
  ['企业 CorpID', mono(input.corpId)],
  [
    '记录数',
    html(
      `${input.records.length} 条${model.firstSeq !== null ? `（seq ${model.firstSeq}–${model.lastSeq}）` : ''}，时间线 ${model.rows.length} 行`,
    ),
  ],
  ['签名检查点', html(`树大小 ${cp.size}，签署于 ${beijing(cp.signedAt)}（北京时间）`)],
  [
    '检查点根哈希',
    `${mono(cp.rootHash)}<br><span class="note">十六进制 ${mono(Buffer.from(cp.rootHash, 'base64').toString('hex'))}</span>`,
  ],
])}
<h2>如何验证</h2>
<p>在只安装了 Node.js 的电脑上，将证据包与验证程序 <code>hireledger-verify.mjs</code>（证据包内附一份；也可从企业或 HireLedger 源码的 verifier 目录独立获取后比对，它是一个可阅读的文件）放在同一文件夹，运行：</p>
<p><code>node hireledger-verify.mjs &lt;bundle.zip&gt; --key '&lt;企业公布的公钥&gt;'</code></p>
<p>或在断网状态下用浏览器打开证据包中的 <code>verify.html</code> 并选择证据包。验证程序逐条重算每条记录的哈希、哈希链、包含证明和检查点签名，逐项显示 PASS 或 FAIL。验证时请使用企业另行公布的公钥（例如企业网站或 HireLedger 的 /evidence/checkpoint 所公布的），并核对 CorpID；不要只与本文件或证据包内的公钥比对：用另一把密钥从头重签的证据包在其自身之内也是一致的。证据包内的 verify.html 与 hireledger-verify.mjs 仅为方便，谨慎的核验者应独立获取验证程序。</p>
<p>任一条记录可手工核对：按 format.md 的说明用 sha256sum 与 openssl 重算其哈希，与本文件时间线中该行的哈希比对。</p>
</section>`;
}

function evidenceList(model: DocumentModel): string {
  // As in the timeline, a hash has a line of its own, so its 64 digits stay together.
  const rows = model.evidence
    .map((e) => {
      const seq = e.seq && !e.where.includes('seq ') ? `<br><span class="note">seq ${html(e.seq)}</span>` : '';
      const main = `<tr><td class="no main">${e.no}</td><td class="main">${html(e.name)}${e.when ? `<br><span class="note">${html(e.when)}（北京时间）<br>${html(e.whenUtc)}（UTC）</span>` : ''}</td><td class="main">${html(e.source)}</td><td class="blank main"></td><td class="main">${html(e.where)}${seq}</td></tr>`;
      return `<tbody class="entry${e.hash ? ' with-hash' : ''}">${main}${e.hash ? `<tr><td class="hash" colspan="5">哈希 ${html(e.hash)}</td></tr>` : ''}</tbody>`;
    })
    .join('\n');
  return `<section>
<h2>证据目录</h2>
<p class="note">“证明目的”一栏留空，由代理律师填写（evidence-list.csv 为同一目录，可用 Excel 或 WPS 编辑）。</p>
<table class="evidence"><thead><tr><th class="c-no">序号</th><th>证据名称</th><th class="c-source">来源</th><th class="c-purpose">证明目的</th><th class="c-where">所在位置</th></tr></thead>
${rows}
</table>
</section>`;
}

function entry(row: TimelineRow): string {
  const stage = row.stage;
  const badge = stage ? `<span class="badge stage-${stage}">${html(STAGE_LABEL[stage])}</span>` : '';
  const linked = row.linked ? `<br>关联记录 seq ${row.linked.seq}：${html(row.linked.hash)}` : '';
  const divider = row.firstApproval
    ? `<tbody><tr class="divider"><td colspan="${COLS}">${html(APPROVED_DIVIDER)}</td></tr></tbody>\n`
    : '';
  return `${divider}<tbody class="entry with-hash${stage ? ` stage-${stage}` : ''}"><tr><td class="main time">${html(beijing(row.at))}</td><td class="main">${html(
    row.who,
  )}</td><td class="main">${badge}${html(row.what)}</td><td class="main channel">${html(row.channel)}</td><td class="main seq">${row.seq}</td></tr>
<tr><td class="hash" colspan="${COLS}">哈希 ${html(row.hash)} &nbsp;&nbsp;${html(utc(row.at))}${linked}</td></tr></tbody>`;
}

function timeline(model: DocumentModel): string {
  const legend = (Object.keys(STAGE_LABEL) as StageKey[])
    .map((k) => `<span class="badge stage-${k}">${html(STAGE_LABEL[k])}</span>`)
    .join(' ');
  const noApproval = model.rows.some((r) => r.firstApproval) ? '' : '<p class="note">本时间线中没有 offer 审批通过的记录。</p>';
  return `<section>
<h2>时间线</h2>
<p class="note">按事件发生时间（来源的时钟）排序，同一时间按 seq（账本顺序）。每行下方为该记录的 SHA-256 哈希（与 records.jsonl 中的 hash 相同）及同一时间的 UTC 表示。标记：${legend}</p>
${noApproval}
<table class="timeline"><thead><tr><th class="c-time">时间（北京时间）</th><th class="c-who">人员</th><th>内容</th><th class="c-channel">渠道</th><th class="c-seq">seq</th></tr></thead>
${model.rows.map(entry).join('\n')}
</table>
</section>`;
}

function identity(input: LegalDocumentsInput, model: DocumentModel): string {
  const profiles =
    model.profiles.length === 0
      ? '<p>证据包中没有企业微信联系人资料记录。</p>'
      : `<table><thead><tr><th>姓名</th><th>external_userid</th><th>类型</th><th>跟进成员</th><th>获取时间（北京时间）</th><th>seq</th></tr></thead><tbody>${model.profiles
          .map(
            (p) =>
              `<tr><td>${html(p.name)}${p.corpName ? `<br><span class="note">${html(p.corpName)}</span>` : ''}</td><td>${mono(p.externalUserId)}</td><td>${html(p.type)}</td><td>${html(
                p.followUsers,
              )}</td><td class="time">${html(beijing(p.at))}</td><td class="seq">${p.seq}</td></tr>`,
          )
          .join('')}</tbody></table>`;
  const confirmations =
    model.confirmations.length === 0
      ? '<p>证据包中没有候选人在 offer 确认页面的身份确认记录。</p>'
      : `<table><thead><tr><th>场合</th><th>本人填写的姓名</th><th>手机号（仅显示后四位）</th><th>核对结果</th><th>IP</th><th>时间（北京时间）</th><th>seq</th></tr></thead><tbody>${model.confirmations
          .map(
            (c) =>
              `<tr><td>${html(c.what)}</td><td>${html(c.name)}</td><td>${mono(c.phone)}</td><td>${html(c.check)}</td><td>${mono(c.ip)}</td><td class="time">${html(
                beijing(c.at),
              )}</td><td class="seq">${c.seq}</td></tr>`,
          )
          .join('')}</tbody></table>`;
  const members =
    model.members.length === 0
      ? '<p>时间线中没有企业成员（招聘人员、审批人）的操作。</p>'
      : `<table><thead><tr><th>userid</th><th>在本案中的角色</th><th>通讯录姓名</th><th>部门 / 职务</th><th>记录时间（北京时间）</th><th>seq</th></tr></thead><tbody>${model.members
          .map((m) =>
            m.profile
              ? `<tr><td>${mono(m.userid)}</td><td>${html(m.roles.join('、'))}</td><td>${html(m.profile.name)}</td><td>${html(
                  [m.profile.department, m.profile.position].filter((s) => s !== '').join(' / '),
                )}</td><td class="time">${html(beijing(m.profile.at))}</td><td class="seq">${m.profile.seq}</td></tr>`
              : `<tr><td>${mono(m.userid)}</td><td>${html(m.roles.join('、'))}</td><td colspan="4" class="note">证据包中没有该成员的通讯录记录，仅有其企业微信 userid</td></tr>`,
          )
          .join('')}</tbody></table>`;
  return `<section>
<h2>身份信息</h2>
<h3>候选人的企业微信联系人资料（获取时的原样）</h3>
${profiles}
<h3>候选人在 offer 确认页面的本人确认</h3>
${confirmations}
<h3>企业成员（招聘人员、审批人）的组织信息</h3>
<p class="note">企业：${mono(input.corpId)}</p>
${members}
</section>`;
}

const STATE_LABEL: Readonly<Record<string, string>> = { on: '开启', off: '关闭', unknown: '未知' };
const ISSUE_LABEL: Readonly<Record<string, string>> = {
  gap: '缺口',
  placeholder: '占位记录',
  media_failed: '媒体获取失败',
  consent: '存档授权',
};
const SCOPE_LABEL: Readonly<Record<string, string>> = {
  candidate: '本候选人',
  account: '客服账号（可能涉及本候选人）',
  corp: '全企业（可能涉及本候选人）',
};

function completeness(report: CompletenessReport | undefined): string {
  if (!report) return '<section><h2>完整性</h2><p class="warn">证据包未附完整性报告。</p></section>';
  const channels = Object.entries(report.channels)
    .map(([name, c]) => {
      const held = c.held
        ? `seq ${c.held.first_seq}–${c.held.last_seq}，${beijing(new Date(c.held.first_occurred_at))} 至 ${beijing(new Date(c.held.last_occurred_at))}`
        : '无';
      const roles = Object.entries(c.by_role)
        .filter(([, n]) => n > 0)
        .map(([r, n]) => `${ROLE_LABEL[r as TimelineRole] ?? r} ${n}`)
        .join('，');
      return `<tr><td>${html(CHANNEL_LABEL[name as keyof typeof CHANNEL_LABEL] ?? name)}</td><td>${html(STATE_LABEL[c.status.state] ?? c.status.state)}${c.status.detail ? `<br><span class="note">${html(c.status.detail)}</span>` : ''}</td><td class="seq">${c.messages}</td><td>${html(roles)}</td><td>${html(held)}</td></tr>`;
    })
    .join('');
  const issues =
    report.issues.length === 0
      ? '<p>没有缺口、占位记录、媒体失败或授权变更。</p>'
      : `<table><thead><tr><th>类型</th><th>范围</th><th>说明</th><th>时间（北京时间）</th><th>seq</th></tr></thead><tbody>${report.issues
          .map(
            (i) =>
              `<tr><td>${html(ISSUE_LABEL[i.type] ?? i.type)}${i.closed_by ? '（已补齐）' : ''}${i.channel ? `<br><span class="note">${html(CHANNEL_LABEL[i.channel])}</span>` : ''}</td><td>${html(SCOPE_LABEL[i.scope] ?? i.scope)}</td><td>${html(i.summary)}</td><td class="time">${html(
                beijing(new Date(i.occurred_at)),
              )}</td><td class="seq">${i.seq}</td></tr>`,
          )
          .join('')}</tbody></table>`;
  return `<section>
<h2>完整性</h2>
<p>${report.complete ? '结论：各渠道均已开启，未发现缺失。' : '<span class="warn">结论：不完整。</span>'}</p>
${report.findings.length > 0 ? `<ul>${report.findings.map((f) => `<li>${html(f)}</li>`).join('')}</ul>` : ''}
<table><thead><tr><th>渠道</th><th>状态</th><th>消息数</th><th>按角色</th><th>覆盖范围（北京时间）</th></tr></thead><tbody>${channels}</tbody></table>
<h3>缺口、占位与授权</h3>
${issues}
<p class="note">完整报告见 completeness.json（生成于 ${html(beijing(new Date(report.generated_at)))}，北京时间）。</p>
</section>`;
}

function system(input: LegalDocumentsInput): string {
  const s = input.system;
  return `<section>
<h2>环境说明</h2>
${kv([
  ['软件及版本', html(`${s.software} ${s.version}`)],
  ['期间监控情况', html(s.monitoring)],
  ['签名密钥保管人', html(s.keyHolder)],
])}
<h3>各渠道的消息获取方式</h3>
<table><thead><tr><th>渠道</th><th>状态</th><th>获取方式</th></tr></thead><tbody>${s.channels
    .map((c) => `<tr><td>${html(c.name)}</td><td>${html(STATE_LABEL[c.state] ?? c.state)}</td><td>${html(c.how)}</td></tr>`)
    .join('')}</tbody></table>
<h3>验证公钥（本证据包所用；须与企业另行公布的公钥一致）</h3>
<pre class="key">${html(s.publicKey.trim())}</pre>
</section>`;
}

export function renderHtml(input: LegalDocumentsInput, model: DocumentModel): string {
  const title = `证据时间线 — ${model.candidateName || input.candidate.externalUserId}`;
  return `<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${html(title)}</title>
<style>${STYLE}</style>
</head>
<body>
${cover(input, model)}
${evidenceList(model)}
${timeline(model)}
${identity(input, model)}
${completeness(input.completeness)}
${system(input)}
</body>
</html>
`;
}
