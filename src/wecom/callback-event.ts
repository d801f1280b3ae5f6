import { createHash } from 'node:crypto';
import type { EvidenceEntry, JsonValue } from '../evidence';
import { parseJsonLossless } from './json';
import { XmlError, parseWecomXml, textOf, childOf, type XmlNode, type XmlValue } from './xml';

/**
 * Turns one decrypted WeCom callback into an evidence entry: what kind of event it is, which
 * stream it belongs to, and the key that makes WeCom's redeliveries idempotent.
 *
 * Dedupe keys come from the decrypted content, never from the query string (a retry carries a
 * new timestamp, nonce and ciphertext). WeCom's own advice (FromUserName + CreateTime) merges
 * distinct system events of the same second, so events get keys of their own.
 */

/** Event and message types HireLedger knows. Anything else is still stored, as `unknown`. */
const KNOWN_TYPES = new Set([
  'message.text',
  'message.image',
  'message.voice',
  'message.video',
  'message.location',
  'message.link',
  'event.sys_approval_change',
  'event.change_external_contact',
  'event.kf_msg_or_event',
  'event.kf_account_auth_change',
  'event.template_card_event',
  'event.msgaudit_notify',
  'event.subscribe',
  'event.unsubscribe',
  'event.enter_agent',
]);

export const CALLBACK_SOURCE = 'wecom.callback';

export interface InboundCallback {
  corpId: string;
  /** Decrypted message exactly as WeCom sent it (XML or JSON text). */
  plaintext: string;
  /** What arrived on the wire, for re-verification: query string and body. */
  raw: { method: string; query: string; contentType: string; body: string };
}

export interface ClassifiedCallback {
  type: string;
  known: boolean;
  entry: EvidenceEntry;
}

export function classifyCallback(cb: InboundCallback): ClassifiedCallback {
  const format = cb.plaintext.trimStart().startsWith('{') ? 'json' : 'xml';
  const fields = format === 'xml' ? parseWecomXml(cb.plaintext) : jsonFields(cb.plaintext);
  const field = (name: string) => textOf(fields, name) ?? '';

  const msgType = field('MsgType');
  const type = msgType === 'event' ? `event.${field('Event')}` : `message.${msgType}`;
  const known = KNOWN_TYPES.has(type);
  const createTime = field('CreateTime');
  const occurredAt = /^\d{1,12}$/.test(createTime) ? new Date(Number(createTime) * 1000) : new Date();

  const { stream, ref } = streamAndRef(type, fields, cb.plaintext);
  return {
    type,
    known,
    entry: {
      stream,
      kind: `${CALLBACK_SOURCE}.${known ? type : 'unknown'}`,
      occurredAt,
      actor: field('FromUserName') || 'wecom',
      source: CALLBACK_SOURCE,
      sourceRef: `${cb.corpId}:${ref}`,
      payload: { type, format, plaintext: cb.plaintext, fields: fields as JsonValue },
      raw: { ...cb.raw },
    },
  };
}

function streamAndRef(type: string, f: XmlNode, plaintext: string): { stream: string; ref: string } {
  const t = (name: string, node: XmlNode = f) => textOf(node, name) ?? '';
  const msgId = t('MsgId');
  if (type.startsWith('message.') && msgId) {
    return { stream: `wecom:member:${t('FromUserName')}`, ref: `msg:${msgId}` };
  }
  switch (type) {
    case 'event.sys_approval_change': {
      const info = childOf(f, 'ApprovalInfo');
      const spNo = t('SpNoStr', info) || t('SpNo', info);
      if (spNo) {
        return {
          stream: `wecom:approval:${spNo}`,
          ref: `approval:${spNo}:${t('StatuChangeEvent', info)}:${t('SpStatus', info)}:${t('CreateTime')}`,
        };
      }
      break;
    }
    case 'event.change_external_contact': {
      const external = t('ExternalUserID');
      return {
        stream: external ? `wecom:external:${external}` : `wecom:member:${t('UserID')}`,
        ref: `contact:${t('ChangeType')}:${t('UserID')}:${external}:${t('CreateTime')}`,
      };
    }
    case 'event.kf_msg_or_event': {
      const kfToken = t('Token');
      if (kfToken) return { stream: `wecom:kf:${t('OpenKfId')}`, ref: `kf:${t('OpenKfId')}:${kfToken}` };
      break;
    }
  }
  const from = t('FromUserName');
  return {
    stream: from && from !== 'sys' ? `wecom:member:${from}` : 'wecom:events',
    ref: `sha256:${createHash('sha256').update(plaintext, 'utf8').digest('hex')}`,
  };
}

/** JSON callbacks become the same shape as XML ones: nested objects whose leaves are strings. */
function jsonFields(plaintext: string): XmlNode {
  let value: unknown;
  try {
    value = parseJsonLossless(plaintext);
  } catch {
    throw new XmlError('xml_malformed', 'decrypted JSON message is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new XmlError('xml_unexpected_root', 'decrypted JSON message must be an object');
  }
  return toStrings(value) as XmlNode;
}

function toStrings(value: unknown): XmlValue {
  if (Array.isArray(value)) return value.map(toStrings);
  if (typeof value === 'object' && value !== null) {
    const out: XmlNode = {};
    for (const [k, v] of Object.entries(value)) {
      if (k === '__proto__' || k === 'constructor' || k === 'prototype') continue;
      out[k] = toStrings(v);
    }
    return out;
  }
  return value === null || value === undefined ? '' : String(value);
}
