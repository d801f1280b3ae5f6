import { createCipheriv, randomBytes } from 'node:crypto';
import { encrypt, getSignature } from '@wecom/crypto';

/**
 * Builds callbacks the way WeCom does, with the official @wecom/crypto library (not our own code),
 * so the tests check our decryption against an independent implementation.
 */
export interface CallbackKeys {
  corpId: string;
  token: string;
  encodingAesKey: string;
}

export const TEST_KEYS: CallbackKeys = {
  corpId: 'wwhireledgertest01',
  token: 'HireLedgerTestToken',
  encodingAesKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
};

export function signedCallback(
  keys: CallbackKeys,
  plaintext: string,
  opts: { timestamp?: number; nonce?: string; receiveId?: string; agentId?: string } = {},
): { query: string; body: string; encrypt: string } {
  const timestamp = String(opts.timestamp ?? Math.floor(Date.now() / 1000));
  const nonce = opts.nonce ?? randomBytes(6).toString('hex');
  const enc = encrypt(keys.encodingAesKey, plaintext, opts.receiveId ?? keys.corpId);
  const signature = getSignature(keys.token, timestamp, nonce, enc);
  const body =
    `<xml><ToUserName><![CDATA[${keys.corpId}]]></ToUserName>` +
    `<Encrypt><![CDATA[${enc}]]></Encrypt><AgentID><![CDATA[${opts.agentId ?? '1000002'}]]></AgentID></xml>`;
  return { query: `msg_signature=${signature}&timestamp=${timestamp}&nonce=${nonce}`, body, encrypt: enc };
}

/**
 * Encrypts arbitrary message bytes (which the official library cannot: it takes a string), with
 * WeCom's layout random(16) ‖ msg_len ‖ msg ‖ receiveid, PKCS#7 to 32 bytes, AES-256-CBC.
 */
export function encryptBytes(encodingAesKey: string, message: Buffer, receiveId: string): string {
  const key = Buffer.from(`${encodingAesKey}=`, 'base64');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(message.length);
  const plain = Buffer.concat([randomBytes(16), len, message, Buffer.from(receiveId, 'utf8')]);
  const n = 32 - (plain.length % 32);
  const cipher = createCipheriv('aes-256-cbc', key, key.subarray(0, 16));
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(Buffer.concat([plain, Buffer.alloc(n, n)])), cipher.final()]).toString('base64');
}

/**
 * A signed callback whose message and envelope are given as bytes: `envelope` receives the
 * ciphertext and returns the body (default: the usual XML envelope).
 */
export function signedBytes(
  keys: CallbackKeys,
  message: Buffer,
  opts: { timestamp?: number; nonce?: string; envelope?: (encrypt: string) => Buffer } = {},
): { query: string; body: Buffer; encrypt: string } {
  const timestamp = String(opts.timestamp ?? Math.floor(Date.now() / 1000));
  const nonce = opts.nonce ?? randomBytes(6).toString('hex');
  const enc = encryptBytes(keys.encodingAesKey, message, keys.corpId);
  const signature = getSignature(keys.token, timestamp, nonce, enc);
  const body =
    opts.envelope?.(enc) ??
    Buffer.from(`<xml><ToUserName><![CDATA[${keys.corpId}]]></ToUserName><Encrypt><![CDATA[${enc}]]></Encrypt></xml>`);
  return { query: `msg_signature=${signature}&timestamp=${timestamp}&nonce=${nonce}`, body, encrypt: enc };
}

export function textMessage(opts: {
  msgId: string;
  from?: string;
  content?: string;
  createTime?: number;
  corpId?: string;
}): string {
  return (
    `<xml><ToUserName><![CDATA[${opts.corpId ?? TEST_KEYS.corpId}]]></ToUserName>` +
    `<FromUserName><![CDATA[${opts.from ?? 'zhangmin'}]]></FromUserName>` +
    `<CreateTime>${opts.createTime ?? Math.floor(Date.now() / 1000)}</CreateTime>` +
    `<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[${opts.content ?? '你好'}]]></Content>` +
    `<MsgId>${opts.msgId}</MsgId><AgentID>1000002</AgentID></xml>`
  );
}

export interface ApprovalDetail {
  userid: string;
  spTime: number;
  /** 1 审批中 2 已同意 3 已驳回; default 2 when spTime is set, else 1. */
  spStatus?: number;
}

export interface ApprovalCommentXml {
  userid: string;
  time: number;
  id: string;
  content?: string;
}

/**
 * sys_approval_change with explicit nodes (SpRecord/Details, one array per node) and comments;
 * `processOnly` writes the nodes as ProcessList/NodeList/SubNodeList instead of SpRecord.
 */
export function approvalEvent(opts: {
  spNo: string;
  createTime: number;
  statuChangeEvent: number;
  spStatus: number;
  nodes: ApprovalDetail[][];
  comments?: ApprovalCommentXml[];
  processOnly?: boolean;
  agentId?: string;
  corpId?: string;
}): string {
  const status = (d: ApprovalDetail) => d.spStatus ?? (d.spTime > 0 ? 2 : 1);
  const records = opts.nodes
    .map(
      (node) =>
        `<SpRecord><SpStatus>${node.every((d) => status(d) === 2) ? 2 : 1}</SpStatus><ApproverAttr>2</ApproverAttr>` +
        node
          .map(
            (d) =>
              `<Details><Approver><UserId><![CDATA[${d.userid}]]></UserId></Approver><Speech><![CDATA[]]></Speech>` +
              `<SpStatus>${status(d)}</SpStatus><SpTime>${d.spTime}</SpTime></Details>`,
          )
          .join('') +
        '</SpRecord>',
    )
    .join('');
  const process =
    '<ProcessList>' +
    opts.nodes
      .map(
        (node) =>
          `<NodeList><NodeType>1</NodeType><SpStatus>${node.every((d) => status(d) === 2) ? 2 : 1}</SpStatus><ApvRel>1</ApvRel>` +
          node
            .map(
              (d) =>
                `<SubNodeList><UserInfo><UserId><![CDATA[${d.userid}]]></UserId></UserInfo><Speech><![CDATA[]]></Speech>` +
                `<SpYj>${status(d)}</SpYj><Sptime>${d.spTime}</Sptime></SubNodeList>`,
            )
            .join('') +
          '</NodeList>',
      )
      .join('') +
    '</ProcessList>';
  const comments = (opts.comments ?? [])
    .map(
      (c) =>
        `<Comments><CommentUserInfo><UserId><![CDATA[${c.userid}]]></UserId></CommentUserInfo><CommentTime>${c.time}</CommentTime>` +
        `<CommentContent><![CDATA[${c.content ?? '备注'}]]></CommentContent><CommentId><![CDATA[${c.id}]]></CommentId></Comments>`,
    )
    .join('');
  return (
    `<xml><ToUserName><![CDATA[${opts.corpId ?? TEST_KEYS.corpId}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>` +
    `<CreateTime>${opts.createTime}</CreateTime><MsgType><![CDATA[event]]></MsgType>` +
    `<Event><![CDATA[sys_approval_change]]></Event><AgentID>${opts.agentId ?? '3010040'}</AgentID><ApprovalInfo>` +
    `<SpNoStr><![CDATA[${opts.spNo}]]></SpNoStr><SpNo>${opts.spNo}</SpNo><SpName><![CDATA[录用审批]]></SpName>` +
    `<SpStatus>${opts.spStatus}</SpStatus><TemplateId><![CDATA[3TkZHireLedgerOfferTemplate01]]></TemplateId>` +
    `<ApplyTime>${opts.createTime - 60}</ApplyTime><Applyer><UserId><![CDATA[zhangmin]]></UserId><Party><![CDATA[2]]></Party></Applyer>` +
    (opts.processOnly ? process : records) +
    comments +
    `<StatuChangeEvent>${opts.statuChangeEvent}</StatuChangeEvent></ApprovalInfo></xml>`
  );
}

/** change_external_contact, with the optional fields of the change types that carry them. */
export function contactChange(opts: {
  changeType: string;
  userId: string;
  externalUserId: string;
  createTime: number;
  state?: string;
  welcomeCode?: string;
  failReason?: string;
  corpId?: string;
}): string {
  const opt = (name: string, v: string | undefined) => (v === undefined ? '' : `<${name}><![CDATA[${v}]]></${name}>`);
  return (
    `<xml><ToUserName><![CDATA[${opts.corpId ?? TEST_KEYS.corpId}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>` +
    `<CreateTime>${opts.createTime}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_contact]]></Event>` +
    `<ChangeType><![CDATA[${opts.changeType}]]></ChangeType><UserID><![CDATA[${opts.userId}]]></UserID>` +
    `<ExternalUserID><![CDATA[${opts.externalUserId}]]></ExternalUserID>` +
    opt('State', opts.state) +
    opt('WelcomeCode', opts.welcomeCode) +
    opt('FailReason', opts.failReason) +
    '</xml>'
  );
}

export function approvalChange(opts: { spNo: string; createTime: number; statuChangeEvent: number; spStatus: number }): string {
  return (
    `<xml><ToUserName><![CDATA[${TEST_KEYS.corpId}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>` +
    `<CreateTime>${opts.createTime}</CreateTime><MsgType><![CDATA[event]]></MsgType>` +
    `<Event><![CDATA[sys_approval_change]]></Event><AgentID>3010040</AgentID><ApprovalInfo>` +
    `<SpNoStr><![CDATA[${opts.spNo}]]></SpNoStr><SpNo>${opts.spNo}</SpNo><SpName><![CDATA[录用审批]]></SpName>` +
    `<SpStatus>${opts.spStatus}</SpStatus><TemplateId><![CDATA[3TkZHireLedgerOfferTemplate01]]></TemplateId>` +
    `<ApplyTime>${opts.createTime - 60}</ApplyTime><Applyer><UserId><![CDATA[zhangmin]]></UserId><Party><![CDATA[2]]></Party></Applyer>` +
    `<SpRecord><SpStatus>${opts.spStatus}</SpStatus><ApproverAttr>1</ApproverAttr><Details><Approver><UserId><![CDATA[liqiang]]></UserId></Approver>` +
    `<Speech><![CDATA[]]></Speech><SpStatus>${opts.spStatus}</SpStatus><SpTime>${opts.createTime}</SpTime></Details></SpRecord>` +
    `<StatuChangeEvent>${opts.statuChangeEvent}</StatuChangeEvent></ApprovalInfo></xml>`
  );
}
