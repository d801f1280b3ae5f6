import { hash } from 'node:crypto';
import { canonicalize, contentDigest, type EvidenceEntry, type JsonValue } from '../evidence';
import type { RedeliveryRule } from '../evidence/types';
import { isCallbackType } from './callbacks';
import { JsonShapeError, parseJsonLossless } from './json';
import {
  CALLBACK_KEYS,
  CALLBACK_SOURCE,
  WECOM_STREAMS,
  callbackKind,
  callbackPayloadType,
  callbackSourceRef,
  memberUserId,
} from './names';
import { XmlError, childOf, isNode, parseWecomXml, textOf, type XmlNode, type XmlValue } from './xml';

/**
 * Turns one verified, decrypted WeCom callback into an evidence entry: what kind of event it is,
 * which stream it belongs to, the key that names the event, and how to tell WeCom's redeliveries
 * of it from a distinct event sharing that key (DECISIONS 2).
 *
 * Nothing here refuses: the signature, decryption and receiveid have been checked, so the
 * callback is stored whatever it contains (DECISIONS 1). What cannot be derived from it (parsed
 * fields, a sane time, its type) is left out or replaced, and the reason written into the record.
 *
 * Keys come from the decrypted content, never from the query string (a retry carries a new
 * timestamp, nonce and ciphertext). WeCom's own advice (FromUserName + CreateTime) merges distinct
 * system events of the same second, so events get keys that name them, and a delivery whose key
 * is stored is a redelivery only when its parsed fields equal the stored ones.
 */

export { CALLBACK_SOURCE };

/** Deepest nesting of a JSON message whose fields are derived (the XML bound is the same). */
export const MAX_FIELD_DEPTH = 64;

/**
 * WeCom's own system apps, which send some callbacks under their AgentID instead of ours
 * (DECISIONS 3), each for the event types it sends and no others.
 */
export const SYSTEM_AGENTS: Readonly<Record<string, { app: string; types: readonly string[] }>> = {
  '3010040': { app: 'approvals', types: ['event.sys_approval_change'] },
  '2000004': { app: 'chat_archive', types: ['event.msgaudit_notify'] },
};

/**
 * Event types that always carry an AgentID: events of an app (the receiving app's id) and the
 * system apps' events above. Messages (`message.*`) always carry one too. Corp-level events
 * (customer contact, 微信客服, address book) carry none; for them, and for event types we do not
 * know, a missing AgentID says nothing and is accepted; a present one is always compared.
 */
const AGENT_EVENTS = new Set([
  'event.subscribe',
  'event.unsubscribe',
  'event.enter_agent',
  'event.LOCATION',
  'event.click',
  'event.view',
  'event.scancode_push',
  'event.scancode_waitmsg',
  'event.pic_sysphoto',
  'event.pic_photo_or_album',
  'event.pic_weixin',
  'event.location_select',
  'event.open_approval_change',
  'event.share_agent_change',
  'event.template_card_event',
  'event.template_card_menu_event',
  'event.taskcard_click',
  'event.sys_approval_change',
  'event.msgaudit_notify',
]);

export interface InboundCallback {
  corpId: string;
  /** Our app's AgentID (WECOM_AGENT_ID). */
  agentId: string;
  /** Decrypted message exactly as WeCom encrypted it (XML or JSON, or bytes that are neither). */
  plaintext: Uint8Array;
  /** What arrived on the wire, for re-verification: query string and body bytes. */
  raw: { method: string; query: string; contentType: string; body: Uint8Array };
  /** When it arrived (ms): occurred_at when the message's own CreateTime is not a sane time. */
  receivedAtMs: number;
}

export interface AgentCheck {
  /** The message's AgentID; null when missing or not a value. */
  id: string | null;
  /** Ours or one of WeCom's system apps (DECISIONS 3). */
  ours: boolean;
  /** Which system app, when it is one. */
  system?: string;
  /** Why it is not ours, when not. */
  reason?: string;
}

export interface ClassifiedCallback {
  /** `message.<MsgType>` or `event.<Event>`; `unparsed` when the message could not be read. */
  type: string;
  known: boolean;
  /** False when flagged as for another agent: stored, never handled as ours. */
  ours: boolean;
  entry: EvidenceEntry & { redelivery: RedeliveryRule };
}

export interface Anomaly {
  field: string;
  value: string | null;
  reason: string;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The bytes as text when that text keeps them exactly and PostgreSQL's jsonb can hold it: valid
 * UTF-8 (a BOM kept as U+FEFF) without U+0000. Otherwise undefined: store them as base64.
 */
export function storableText(bytes: Uint8Array): string | undefined {
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
  return text.includes('\u0000') ? undefined : text;
}

/** A decrypted callback read once: its text, parsed fields and type, before any id is resolved. */
export interface ReadCallback {
  cb: InboundCallback;
  text: string | undefined;
  derived: Derived;
  type: string;
}

export function readCallback(cb: InboundCallback): ReadCallback {
  const text = storableText(cb.plaintext);
  const derived = deriveFields(text);
  const f = derived.fields;
  const msgType = textOf(f, 'MsgType') ?? '';
  const type = f ? (msgType === 'event' ? `event.${textOf(f, 'Event') ?? ''}` : `message.${msgType}`) : 'unparsed';
  return { cb, text, derived, type };
}

/**
 * The external_userid whose opaque id the record needs (a customer-contact event names one), so
 * the caller can resolve it (external-contacts.ts) before `classifyRead`.
 */
export function externalUserIdOf(read: ReadCallback): string | undefined {
  if (read.type !== 'event.change_external_contact') return undefined;
  return textOf(read.derived.fields, 'ExternalUserID') || undefined;
}

/**
 * Kind, stream, key and payload of a verified callback. `contactIds` maps the external_userid of
 * `externalUserIdOf` to its opaque id; without it a customer-contact event cannot be keyed, and
 * this throws (the route then stores the callback unparsed rather than lose it).
 */
export function classifyCallback(cb: InboundCallback, contactIds: ReadonlyMap<string, string> = new Map()): ClassifiedCallback {
  return classifyRead(readCallback(cb), contactIds);
}

export function classifyRead(read: ReadCallback, contactIds: ReadonlyMap<string, string>): ClassifiedCallback {
  const { cb, text, derived, type } = read;
  const f = derived.fields;
  const field = (name: string) => textOf(f, name) ?? '';

  const known = isCallbackType(type);
  const agent = f ? agentOf(type, f, cb.agentId) : undefined;
  const ours = agent?.ours ?? true;

  const { occurredAt, anomaly } = occurredAtOf(f, cb.receivedAtMs);
  const anomalies = anomaly ? [anomaly] : [];

  // The digest names the event by its parsed fields. When those are missing or partial, by the
  // plaintext's bytes: two events differing only in what was left out must never merge.
  const digest = digestOfMessage(cb.plaintext, text, derived);
  const id = identityOf(type, f, cb.plaintext, text, digest, contactIds);
  const from = field('FromUserName');
  const stream = ours ? id.stream : WECOM_STREAMS.otherAgent(agent?.id ?? null);

  const payload: Record<string, JsonValue> = { type: callbackPayloadType(type, ours), format: derived.format };
  if (text !== undefined) payload['plaintext'] = text;
  else payload['plaintext_base64'] = Buffer.from(cb.plaintext).toString('base64');
  if (derived.fields) payload['fields'] = derived.fields;
  if (derived.error !== undefined) payload['fields_error'] = derived.error;
  if (anomalies.length > 0) payload['anomalies'] = anomalies.map((a) => ({ ...a }));
  if (agent) {
    payload['agent'] = {
      id: agent.id,
      ours: agent.ours,
      ...(agent.system !== undefined ? { system: agent.system } : {}),
      ...(agent.reason !== undefined ? { reason: agent.reason } : {}),
    };
  }

  const prefix = (key: string) => callbackSourceRef(cb.corpId, key);
  const sourceRef = fit(prefix(id.key), 480);
  const aliases = [...new Set(id.aliases.map(prefix))].filter((a) => a !== sourceRef && a.length <= 512);
  return {
    type,
    known,
    ours,
    entry: {
      stream: fit(stream, 256),
      kind: callbackKind({ ours, type, known }),
      occurredAt,
      // FromUserName is a member's userid (lower-cased, DECISIONS 8) or `sys`; never an external contact.
      actor: fit(from && from !== 'sys' ? memberUserId(from) : from || 'wecom', 256),
      source: CALLBACK_SOURCE,
      sourceRef,
      payload,
      raw: rawOf(cb.raw),
      redelivery: { digest, digestOf: callbackDigestOf, ...(aliases.length > 0 ? { aliases } : {}) },
    },
  };
}

/**
 * The last resort, when the classified entry could not be stored (a bug of ours, or something
 * PostgreSQL refuses that nothing above foresaw): the raw material alone, as base64, keyed by the
 * plaintext's bytes, so a verified callback is still kept (DECISIONS 1).
 */
export function unparsedCallback(cb: InboundCallback, reason: string): ClassifiedCallback {
  const digest = bytesDigest(cb.plaintext);
  return {
    type: 'unparsed',
    known: false,
    ours: true,
    entry: {
      stream: WECOM_STREAMS.events,
      kind: callbackKind({ ours: true, type: 'unparsed', known: false }),
      occurredAt: new Date(cb.receivedAtMs),
      actor: 'wecom',
      source: CALLBACK_SOURCE,
      sourceRef: callbackSourceRef(cb.corpId, CALLBACK_KEYS.bytes(sha256Hex(cb.plaintext))),
      payload: {
        type: 'unparsed',
        format: 'unknown',
        plaintext_base64: Buffer.from(cb.plaintext).toString('base64'),
        fields_error: reason,
        anomalies: [{ field: 'CreateTime', value: null, reason: 'the message was not read; occurred_at is the receive time' }],
      },
      raw: {
        method: cb.raw.method,
        query: cb.raw.query,
        contentType: cb.raw.contentType,
        body_base64: Buffer.from(cb.raw.body).toString('base64'),
      },
      redelivery: { digest, digestOf: callbackDigestOf },
    },
  };
}

/**
 * The redelivery digest of a stored callback record, from its payload: the stored plaintext read
 * as a delivery is read now, so a record keeps matching its redeliveries whatever parse stored
 * its `fields` (and a record whose earlier fields were partial cannot pass for a distinct event).
 * That is SHA-256 of the canonical JSON of the fields, or, when they are missing or partial, of
 * `{"plaintext_sha256": <hex of the plaintext bytes>}`. A payload without a plaintext (none is
 * written so) digests its `fields` when they are complete.
 */
export function callbackDigestOf(payload: JsonValue): string | null {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return null;
  const text = payload['plaintext'];
  const base64 = payload['plaintext_base64'];
  if (typeof text === 'string') return digestOfMessage(Buffer.from(text, 'utf8'), text);
  if (typeof base64 === 'string') return bytesDigest(Buffer.from(base64, 'base64'));
  const fields = payload['fields'];
  if (fields !== undefined && payload['fields_error'] === undefined) {
    try {
      return contentDigest(fields);
    } catch {
      return null;
    }
  }
  return null;
}

/** The digest of a decrypted message: its complete parsed fields, else its bytes. */
function digestOfMessage(plaintext: Uint8Array, text: string | undefined, derived: Derived = deriveFields(text)): string {
  if (!derived.fields || derived.error !== undefined) return bytesDigest(plaintext);
  // contentDigest(fields), from the canonical form deriveFields already wrote.
  return derived.fieldsJcs !== undefined ? sha256Hex(derived.fieldsJcs) : contentDigest(derived.fields);
}

function bytesDigest(bytes: Uint8Array): string {
  return contentDigest({ plaintext_sha256: sha256Hex(bytes) });
}

function sha256Hex(data: Uint8Array | string): string {
  return hash('sha256', data, 'hex');
}

function rawOf(raw: InboundCallback['raw']): JsonValue {
  const body = storableText(raw.body);
  return {
    method: raw.method,
    query: raw.query,
    contentType: raw.contentType,
    ...(body !== undefined ? { body } : { body_base64: Buffer.from(raw.body).toString('base64') }),
  };
}

// ------------------------------------------------------------------ fields

export interface Derived {
  format: 'xml' | 'json' | 'unknown';
  fields?: XmlNode;
  /** Why fields are missing or partial. */
  error?: string;
  /** The canonical JSON (RFC 8785) of `fields`, written once when they were checked storable. */
  fieldsJcs?: string;
}

function deriveFields(text: string | undefined): Derived {
  if (text === undefined) return { format: 'unknown', error: 'the plaintext is not UTF-8 text without U+0000' };
  // A BOM is kept in the stored plaintext; the parsers read what follows it.
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const derived: Derived = body.trimStart().startsWith('{') ? { format: 'json', ...jsonFields(body) } : xmlFields(body);
  if (derived.fields) {
    try {
      derived.fieldsJcs = canonicalize(derived.fields);
    } catch {
      return { format: derived.format, error: 'the parsed fields are not storable JSON' };
    }
  }
  return derived;
}

/**
 * A partial tree (attributes, comments, text beside elements left out) keeps its fields with the
 * reason in `error`, so the digest falls back to the plaintext bytes (DECISIONS 2).
 */
function xmlFields(body: string): Derived {
  try {
    const { root, lost } = parseWecomXml(body);
    return lost.length === 0
      ? { format: 'xml', fields: root }
      : { format: 'xml', fields: root, error: `XML: fields leave out ${lost.join('; ')}` };
  } catch (err) {
    return { format: 'xml', error: err instanceof XmlError ? `XML: ${err.message}` : 'XML: the message could not be parsed' };
  }
}

/** JSON messages become the same shape as XML ones: nested objects whose leaves are strings. */
function jsonFields(body: string): Omit<Derived, 'format'> {
  let value: unknown;
  try {
    value = parseJsonLossless(body, { maxDepth: MAX_FIELD_DEPTH, rejectDuplicateKeys: true, numbersAsText: true });
  } catch (err) {
    return { error: err instanceof JsonShapeError ? `JSON: ${err.message}` : 'JSON: the message is not valid JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { error: 'JSON: the message is not an object' };
  const dropped: Dropped = { unstorable: [], internals: [] };
  const fields = toFields(value, '$', 0, dropped) as XmlNode;
  const reasons: string[] = [];
  const listed = (paths: string[]) => paths.slice(0, 8).join(', ') + (paths.length > 8 ? ', …' : '');
  if (dropped.unstorable.length > 0) {
    reasons.push(
      `left out ${dropped.unstorable.length} value(s) that are not storable text (U+0000 or a lone surrogate): ${listed(dropped.unstorable)}`,
    );
  }
  if (dropped.internals.length > 0) {
    reasons.push(
      `left out ${dropped.internals.length} key(s) that name JavaScript object internals (__proto__, constructor, prototype): ${listed(dropped.internals)}`,
    );
  }
  return reasons.length === 0 ? { fields } : { fields, error: reasons.join('; ') };
}

/** Paths of what `toFields` left out, by why. */
interface Dropped {
  /** Strings and keys jsonb cannot hold. */
  unstorable: string[];
  /** Keys that would touch an object's prototype, or that code downstream may mistake for it. */
  internals: string[];
}

/**
 * Leaves become strings (numbers as written, which the parse kept as text; true and false as
 * written; null as ''), as XML gives them, so the XML and JSON forms of one message have one
 * digest. Left out, their paths noted: strings and keys jsonb cannot hold, and the keys
 * `__proto__`, `constructor` and `prototype`. Depth is bounded by the parse (MAX_FIELD_DEPTH),
 * so the recursion is too.
 */
function toFields(value: unknown, path: string, depth: number, dropped: Dropped): XmlValue | undefined {
  if (depth > MAX_FIELD_DEPTH) {
    dropped.unstorable.push(pathText(path));
    return undefined;
  }
  if (Array.isArray(value)) {
    const out: XmlValue[] = [];
    value.forEach((v, i) => {
      const item = toFields(v, `${path}[${i}]`, depth + 1, dropped);
      if (item !== undefined) out.push(item);
    });
    return out;
  }
  if (typeof value === 'object' && value !== null) {
    const out: XmlNode = {};
    for (const [k, v] of Object.entries(value)) {
      const childPath = /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`;
      if (!storableString(k)) {
        dropped.unstorable.push(pathText(childPath));
        continue;
      }
      if (k === '__proto__' || k === 'constructor' || k === 'prototype') {
        dropped.internals.push(pathText(childPath));
        continue;
      }
      const item = toFields(v, childPath, depth + 1, dropped);
      if (item !== undefined) out[k] = item;
    }
    return out;
  }
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- arrays and objects returned above: a primitive is left
  const text = value === null || value === undefined ? '' : String(value);
  if (!storableString(text)) {
    dropped.unstorable.push(pathText(path));
    return undefined;
  }
  return text;
}

function storableString(s: string): boolean {
  return !s.includes('\u0000') && s.isWellFormed();
}

function pathText(path: string): string {
  return path.length > 120 ? `${safeSlice(path, 117)}...` : path;
}

// ------------------------------------------------------------------ agent, time

function agentOf(type: string, f: XmlNode, ourAgentId: string): AgentCheck | undefined {
  const value = f['AgentID'];
  const required = type.startsWith('message.') || AGENT_EVENTS.has(type);
  if (value === undefined || value === '') {
    return required ? { id: null, ours: false, reason: 'AgentID missing where this type always carries one' } : undefined;
  }
  if (typeof value !== 'string') return { id: null, ours: false, reason: 'AgentID is not a value' };
  if (value === ourAgentId) return { id: value, ours: true };
  const system = SYSTEM_AGENTS[value];
  if (system?.types.includes(type)) return { id: value, ours: true, system: system.app };
  return {
    id: safeSlice(value, 64),
    ours: false,
    reason: system ? `AgentID of the ${system.app} system app on a type it does not send` : 'AgentID is not ours',
  };
}

const EARLIEST_MS = Date.UTC(2000, 0, 1);
/** 9999-12-31T23:59:59Z: the hashed form writes four-digit years (docs/evidence-format.md). */
const LATEST_SECONDS = 253402300799;
const DAY_MS = 86_400_000;

/** CreateTime when it is a sane time; otherwise the receive time, and why. */
function occurredAtOf(f: XmlNode | undefined, receivedAtMs: number): { occurredAt: Date; anomaly?: Anomaly } {
  const fallback = (value: string | null, reason: string) => ({
    occurredAt: new Date(receivedAtMs),
    anomaly: {
      field: 'CreateTime',
      value: value === null ? null : safeSlice(value, 64),
      reason: `${reason}; occurred_at is the receive time`,
    },
  });
  if (!f) return fallback(null, 'the message could not be parsed');
  const value = f['CreateTime'];
  if (value === undefined) return fallback(null, 'missing');
  if (typeof value !== 'string') return fallback(null, 'not a value');
  if (!/^\d+$/.test(value)) return fallback(value, 'not a whole number of seconds');
  const seconds = Number(value);
  if (seconds > LATEST_SECONDS) return fallback(value, 'after the year 9999');
  if (seconds * 1000 < EARLIEST_MS) return fallback(value, 'before 2000-01-01');
  if (seconds * 1000 > receivedAtMs + DAY_MS) return fallback(value, 'more than a day after it was received');
  return { occurredAt: new Date(seconds * 1000) };
}

// ------------------------------------------------------------------ keys and streams

interface Identity {
  stream: string;
  key: string;
  /** Keys of an earlier format, for records stored before (DECISIONS 2). */
  aliases: string[];
}

/**
 * Key and stream. The formats in use (docs/evidence-format.md, "Callback records"; names.ts):
 *   message with MsgId          msg:<MsgId>
 *   sys_approval_change         approval:<SpNo>:<StatuChangeEvent>:<SpStatus>:<CreateTime>:<act>
 *   change_external_contact     contact-v2:<ChangeType>:<userid>:<contact id>:<CreateTime>
 *   kf_msg_or_event             kf:<OpenKfId>:<Token>
 *   anything else               fields:<digest>   (sha256:<plaintext bytes> when unparsed)
 * Parts of the newer formats are %-escaped where they hold `%`, `:` or `#`; member userids are
 * lower-cased (DECISIONS 8), every other WeCom id is kept exactly, and an external contact is named
 * by its opaque id, never its external_userid (DECISIONS 4).
 */
function identityOf(
  type: string,
  f: XmlNode | undefined,
  plaintext: Uint8Array,
  text: string | undefined,
  digest: string,
  contactIds: ReadonlyMap<string, string>,
): Identity {
  if (!f) return { stream: WECOM_STREAMS.events, key: CALLBACK_KEYS.bytes(sha256Hex(plaintext)), aliases: [] };
  const t = (name: string, node: XmlNode | undefined = f) => textOf(node, name) ?? '';
  const from = t('FromUserName');
  const msgId = t('MsgId');
  if (type.startsWith('message.') && msgId) {
    return { stream: WECOM_STREAMS.member(from), key: CALLBACK_KEYS.message(msgId), aliases: [] };
  }
  switch (type) {
    case 'event.sys_approval_change': {
      const info = childOf(f, 'ApprovalInfo');
      const spNo = t('SpNoStr', info) || t('SpNo', info);
      if (!spNo) break;
      const [sce, status, created] = [t('StatuChangeEvent', info), t('SpStatus', info), t('CreateTime')];
      return {
        stream: WECOM_STREAMS.approval(spNo),
        key: CALLBACK_KEYS.approval(spNo, sce, status, created, approvalAct(info, sce)),
        aliases: [CALLBACK_KEYS.approvalLegacy(spNo, sce, status, created)],
      };
    }
    case 'event.change_external_contact': {
      const [change, user, external, created] = [t('ChangeType'), t('UserID'), t('ExternalUserID'), t('CreateTime')];
      const contactId = external ? contactIds.get(external) : '';
      if (contactId === undefined) throw new Error('the external contact of this event has no opaque id yet (externalUserIdOf)');
      return {
        stream: contactId ? WECOM_STREAMS.externalContact(contactId) : WECOM_STREAMS.member(user),
        key: CALLBACK_KEYS.contact(change, user, contactId, created),
        // Keys of records stored before the opaque ids: probed, never written again.
        aliases: [
          CALLBACK_KEYS.contactLegacy(change, user, external, created, true),
          CALLBACK_KEYS.contactLegacy(change, user, external, created, false),
        ],
      };
    }
    case 'event.kf_msg_or_event': {
      const kfToken = t('Token');
      if (kfToken) return { stream: WECOM_STREAMS.kf(t('OpenKfId')), key: CALLBACK_KEYS.kf(t('OpenKfId'), kfToken), aliases: [] };
      break;
    }
  }
  return {
    stream: from && from !== 'sys' ? WECOM_STREAMS.member(from) : WECOM_STREAMS.events,
    key: CALLBACK_KEYS.fields(digest),
    // Before: the SHA-256 of the decrypted text (as it was read then, without a BOM).
    aliases: text === undefined ? [] : [CALLBACK_KEYS.bytes(sha256Hex(Buffer.from(text.replace(/^\uFEFF/, ''), 'utf8')))],
  };
}

/**
 * Who acted, for an approval event: for a comment (StatuChangeEvent 10) the newest comment
 * (`c:<CommentId>`); otherwise the approver entry with the newest non-zero time, by node index and
 * lower-cased userid, from SpRecord/Details (`n<i>:<userid>`) or, when that has none, from
 * ProcessList/NodeList/SubNodeList (`p<i>:<userid>`); `-` when nobody has acted (submission).
 * Ties go to the entry written last. Whatever a tie gets wrong, the digest still keeps two
 * distinct events apart: this only makes the key name them.
 */
function approvalAct(info: XmlNode | undefined, statuChangeEvent: string): string {
  const seconds = (v: string | undefined) => (v !== undefined && /^\d{1,15}$/.test(v) ? Number(v) : 0);
  if (statuChangeEvent === '10') {
    let newest: { time: number; id: string } | undefined;
    for (const c of listOf(info, 'Comments')) {
      const time = seconds(textOf(c, 'CommentTime'));
      const id = textOf(c, 'CommentId') ?? '';
      if (id && (!newest || time >= newest.time)) newest = { time, id };
    }
    if (newest) return CALLBACK_KEYS.approvalAct.comment(newest.id);
  }
  const newestOf = (nodes: XmlNode[], entries: string, timeOf: string, userOf: (e: XmlNode) => string | undefined) => {
    let newest: { time: number; node: number; user: string } | undefined;
    nodes.forEach((node, i) => {
      for (const e of listOf(node, entries)) {
        const time = seconds(textOf(e, timeOf));
        if (time > 0 && (!newest || time >= newest.time)) newest = { time, node: i, user: userOf(e) ?? '' };
      }
    });
    return newest;
  };
  const legacy = newestOf(listOf(info, 'SpRecord'), 'Details', 'SpTime', (d) => textOf(childOf(d, 'Approver'), 'UserId'));
  if (legacy) return CALLBACK_KEYS.approvalAct.approver('n', legacy.node, legacy.user);
  const nodes = listOf(childOf(info, 'ProcessList'), 'NodeList');
  const flow = newestOf(nodes, 'SubNodeList', 'Sptime', (s) => textOf(childOf(s, 'UserInfo'), 'UserId'));
  return flow ? CALLBACK_KEYS.approvalAct.approver('p', flow.node, flow.user) : CALLBACK_KEYS.approvalAct.none;
}

/** The elements of a repeating field: an array in XML, possibly a single object in JSON. */
function listOf(node: XmlNode | undefined, name: string): XmlNode[] {
  const value = node?.[name];
  if (Array.isArray(value)) return value.filter(isNode);
  return isNode(value) ? [value] : [];
}

/** The value itself when short enough; otherwise a prefix and the SHA-256 of the whole, `max` long. */
function fit(value: string, max: number): string {
  return value.length <= max ? value : `${safeSlice(value, max - 65)}~${sha256Hex(value)}`;
}

/** At most `n` UTF-16 units, never ending inside a surrogate pair. */
function safeSlice(s: string, n: number): string {
  if (s.length <= n) return s;
  const code = s.charCodeAt(n - 1);
  return s.slice(0, code >= 0xd800 && code <= 0xdbff ? n - 1 : n);
}
