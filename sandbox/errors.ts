/**
 * Catalogue of the WeCom errcodes the sandbox can return, and helpers that format error bodies the
 * way qyapi.weixin.qq.com does:
 *   {"errcode":40014,"errmsg":"invalid access_token, hint: [1700000000_11_abcdef...], from ip: 127.0.0.1,
 *    more info at https://open.work.weixin.qq.com/devtool/query?e=40014"}
 * Codes and Chinese meanings follow the global error-code page (doc 90313) and the per-API pages cited in
 * the project's WeCom reference. The English `errmsg` stems imitate WeCom's terse style; clients must
 * never branch on them (the real service changes wording), only on `errcode`.
 */
import { randomBytes } from 'node:crypto';

export interface ErrorInfo {
  /** English stem of errmsg as WeCom prints it (before ", hint: ..."). */
  readonly msg: string;
  /** Chinese meaning from the doc, for the README and the HTML page. */
  readonly zh: string;
}

export const WECOM_ERRORS = {
  [-1]: { msg: 'system busy', zh: '系统繁忙，建议稍候重试（不超过3次）' },
  40001: { msg: 'invalid credential', zh: '不合法的secret参数' },
  40003: { msg: 'invalid userid', zh: '无效的UserID' },
  40007: { msg: 'invalid media_id', zh: '不合法的media_id参数' },
  40008: { msg: 'invalid message type', zh: '不合法的msgtype参数' },
  40013: { msg: 'invalid corpid', zh: '不合法的CorpID' },
  40014: { msg: 'invalid access_token', zh: '不合法的access_token' },
  40029: { msg: 'invalid code', zh: '不合法的oauth_code（已使用或已过期）' },
  40056: { msg: 'invalid agentid', zh: '不合法的agentid' },
  40058: { msg: 'invalid Request Parameter', zh: '不合法的参数' },
  40096: { msg: 'invalid external userid', zh: '不合法的外部联系人userid' },
  41001: { msg: 'access_token missing', zh: '缺少access_token参数' },
  41002: { msg: 'corpid missing', zh: '缺少corpid参数' },
  41004: { msg: 'corpsecret missing', zh: '缺少secret参数' },
  41006: { msg: 'media_id missing', zh: '缺少media_id参数' },
  41008: { msg: 'missing code', zh: '缺少oauth code' },
  41009: { msg: 'missing userid', zh: '缺少userid参数' },
  41010: { msg: 'url missing', zh: '缺少url参数' },
  41011: { msg: 'missing agentid', zh: '缺少agentid参数' },
  41016: { msg: 'title missing', zh: '缺少title参数' },
  41033: { msg: 'description missing', zh: '缺少description参数' },
  41035: { msg: 'missing external userid', zh: '缺少外部联系人userid参数' },
  41046: { msg: 'missing msgid', zh: '缺少企业群发消息id' },
  41047: { msg: 'invalid msgid', zh: '无效的企业群发消息id' },
  41048: { msg: 'no customer to send', zh: '无可发送的客户' },
  41065: { msg: 'invalid attachment type', zh: '无效的附件类型' },
  42001: { msg: 'access_token expired', zh: 'access_token已过期' },
  44004: { msg: 'empty content', zh: '文本消息content参数为空' },
  45002: { msg: 'content size out of limit', zh: '消息内容大小超过限制' },
  45009: { msg: 'api freq out of limit', zh: '接口调用超过限制' },
  45034: { msg: 'url must start with http:// or https://', zh: 'url必须有协议头' },
  47001: { msg: 'data format error', zh: '请求数据格式错误（JSON 解析失败）' },
  60011: {
    msg: 'no privilege to access/modify contact/party/agent',
    zh: '指定的成员/部门/标签参数无权限（appchat 要求应用可见范围为根部门）',
  },
  60111: { msg: 'userid not found', zh: 'UserID不存在或不在应用可见范围' },
  81013: { msg: 'user & party & tag all invalid', zh: 'UserID、部门ID、标签ID全部非法或无权限' },
  82001: { msg: 'All touser & toparty & totag invalid', zh: '指定的成员/部门/标签全部为空' },
  84061: { msg: 'not external contact', zh: '不存在外部联系人的关系' },
  86001: { msg: 'invalid chatid', zh: '参数 chatid 不合法' },
  86003: { msg: 'chatid not exist', zh: '参数 chatid 不存在' },
  86006: { msg: 'invalid chat member list size', zh: '群成员数过多或过少' },
  86008: { msg: 'not allowed to operate chat created by others', zh: '非法操作非自己创建的群' },
  86201: { msg: 'chatid missing', zh: '参数 需要chatid' },
  86205: { msg: 'chatid too long', zh: '参数 字符串chatid过长' },
  86207: { msg: 'chat owner not in member list', zh: '群主不在群成员列表' },
  86215: { msg: 'chatid already exists', zh: '会话ID已经存在' },
  86216: { msg: 'invalid chat member id', zh: '存在非法会话成员ID' },
  93000: { msg: 'invalid webhook url', zh: '机器人webhookurl不合法或者机器人已经被移除出群' },
  95000: { msg: 'invalid open_kfid', zh: '非法的open_kfid' },
  95001: { msg: 'send msg count limit', zh: '发送消息数量超过限制（每条客户消息后最多5条）' },
  95002: { msg: 'send msg out of time limit', zh: '超过48小时，不允许发送' },
  95004: { msg: 'open_kfid not exist', zh: 'open_kfid不存在' },
  95007: { msg: 'invalid msg token', zh: '不合法的msgtoken' },
  95013: { msg: 'session has been closed', zh: '会话已经结束' },
  95018: { msg: 'invalid session status', zh: '会话状态不允许通过API发送消息' },
  301025: { msg: 'invalid param', zh: '参数错误' },
  301055: { msg: 'no approval auth or creator not in visible range', zh: '无审批应用权限，或提单者不在应用可见范围' },
  301112: { msg: 'time range is too long', zh: '拉取时间范围超过31天' },
} as const satisfies Record<number, ErrorInfo>;

export type WecomErrcode = keyof typeof WECOM_ERRORS;

/** Thrown by route handlers; the server's error handler turns it into a 200 + errcode body. */
export class WecomApiError extends Error {
  constructor(
    readonly errcode: WecomErrcode,
    /** Extra detail appended to the stem, as WeCom sometimes does ("invalid param: template_id"). */
    readonly detail?: string,
    /** Extra fields merged into the error body (81013 still lists invaliduser etc.). */
    readonly extra?: Record<string, unknown>,
  ) {
    super(`${errcode} ${WECOM_ERRORS[errcode].msg}${detail ? `: ${detail}` : ''}`);
    this.name = 'WecomApiError';
  }
}

export interface WecomErrorBody {
  errcode: number;
  errmsg: string;
}

let hintSeq = 0;

/** `1700000000_11_<32 hex>`: unix seconds, a small per-process counter, random hex (like WeCom's hints). */
function hint(nowMs: number): string {
  hintSeq = (hintSeq + 1) % 100;
  return `${Math.floor(nowMs / 1000)}_${hintSeq}_${randomBytes(16).toString('hex')}`;
}

/** Strip the IPv4-mapped prefix so the message says "from ip: 127.0.0.1" like WeCom does. */
export function displayIp(ip: string): string {
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}

export function errorBody(errcode: number, ip: string, detail?: string, nowMs: number = Date.now()): WecomErrorBody {
  // Fault injection may ask for any code; unknown ones get a generic stem.
  const base = isWecomErrcode(errcode) ? WECOM_ERRORS[errcode].msg : 'error';
  const stem = `${base}${detail ? `: ${detail}` : ''}`;
  return {
    errcode,
    errmsg: `${stem}, hint: [${hint(nowMs)}], from ip: ${displayIp(ip)}, more info at https://open.work.weixin.qq.com/devtool/query?e=${errcode}`,
  };
}

export const OK = { errcode: 0, errmsg: 'ok' } as const;

export function isWecomErrcode(code: number): code is WecomErrcode {
  return Object.prototype.hasOwnProperty.call(WECOM_ERRORS, code);
}
