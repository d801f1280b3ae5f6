import { CONVERSATION_KINDS, CONVERSATION_SOURCE_REFS, CONVERSATION_SOURCES } from '../src/conversations';
import type { EvidenceEntry } from '../src/evidence';
import { CALLBACK_SOURCE, WECOM_STREAMS } from '../src/wecom/names';

/**
 * The records the ledger benchmarks fill a million-record ledger with (bench:timeline,
 * bench:evidence): a candidate's chat messages on both channels, shaped as the conversations module
 * writes them, and other people's contact callbacks around them.
 */

export const KFID = 'wkBenchAccount01';

const LINES = [
  '我再考虑一下，薪资能否再谈？',
  '好的，明天下午三点方便面试吗',
  '收到👌 我这边没问题',
  'offer什么时候能发呀',
  '家里人还要商量一下',
];

export function message(stream: string, who: string, i: number, at: number, role: 'candidate' | 'recruiter'): EvidenceEntry {
  const channel = i % 3 === 0 ? 'archive' : 'kf';
  const msgid = `bench${i}`;
  const text = `${LINES[i % LINES.length] as string}（${i}）`;
  const wecom = {
    msgid,
    msgtype: 'text',
    origin: role === 'candidate' ? 3 : 5,
    send_time: Math.floor(at / 1000),
    text: { content: text },
  };
  return {
    stream,
    kind: CONVERSATION_KINDS.message,
    occurredAt: new Date(at),
    actor: role === 'recruiter' ? `recruiter${i % 50}` : who,
    source: CONVERSATION_SOURCES[channel],
    sourceRef:
      channel === 'kf' ? CONVERSATION_SOURCE_REFS.kfMessage(KFID, msgid) : CONVERSATION_SOURCE_REFS.archiveMessage(msgid),
    payload: {
      channel,
      role,
      msgid,
      msgtype: 'text',
      text,
      ...(channel === 'kf' ? { open_kfid: KFID } : { archive_seq: i }),
      ...(role === 'recruiter' ? { recruiter: `recruiter${i % 50}` } : {}),
      message: wecom,
    },
    // The raw item is what WeCom sent: the same object the payload carries as `message`.
    raw: wecom,
  };
}

export function callback(i: number, at: number): EvidenceEntry {
  const contact = `xc_${i.toString(16).padStart(32, '0')}`;
  return {
    stream: WECOM_STREAMS.externalContact(contact),
    kind: 'wecom.callback.event.change_external_contact',
    occurredAt: new Date(at),
    actor: `recruiter${i % 50}`,
    source: CALLBACK_SOURCE,
    sourceRef: `wwbench:contact-v2:add_external_contact:recruiter${i % 50}:${contact}:${Math.floor(at / 1000)}`,
    payload: {
      type: 'event.change_external_contact',
      format: 'xml',
      fields: { ChangeType: 'add_external_contact', UserID: `recruiter${i % 50}`, CreateTime: String(Math.floor(at / 1000)) },
    },
    raw: { query: `msg_signature=${i}`, body: `<xml><Encrypt>${'A'.repeat(200)}</Encrypt></xml>` },
  };
}
