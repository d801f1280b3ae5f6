import { randomBytes } from 'node:crypto';
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
