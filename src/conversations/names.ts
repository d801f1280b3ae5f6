/**
 * Every name the conversations module writes (ARCHITECTURE.md, "Names"). Messages pulled for a
 * candidate, both ways and on both channels, are appended to the candidate's own stream
 * (`CANDIDATE_STREAMS.candidate`, DECISIONS 9), one record per WeCom message.
 *
 * `source_ref` carries WeCom's message id, which names a message, not a person (DECISIONS 4);
 * the ledger's unique (source, source_ref) makes a re-pulled page a redelivery, never a duplicate.
 */

export const CONVERSATIONS_MODULE = 'conversations';

/** `source` per channel. */
export const CONVERSATION_SOURCES = {
  /** 微信客服 (kf/sync_msg, kf/send_msg). */
  kf: 'wecom.kf',
  /** 会话内容存档 (the Finance SDK's GetChatData). */
  archive: 'wecom.msgaudit',
} as const;

export type ConversationChannel = keyof typeof CONVERSATION_SOURCES;

/** Who wrote a message: the candidate, a recruiter (a member, from their client), the system, or HireLedger itself. */
export type ConversationRole = 'candidate' | 'recruiter' | 'system' | 'app';

export const CONVERSATION_KINDS = {
  /** One message, as WeCom gave it (`payload.message`), with the fields below read from it. */
  message: 'conversation.message',
  /** An archive item that could not be decrypted or read: its seq and the error, never a gap. */
  placeholder: 'conversation.placeholder',
  /** Media of a message stored (content-addressed within the candidate) or given up after retries. */
  media: 'conversation.media',
  /** A contact agreed or disagreed to the chat archive (msgaudit consent). */
  consent: 'conversation.consent',
  /** A page or range that could not be pulled: what the completeness report calls a gap. */
  gap: 'conversation.gap',
} as const;

export const CONVERSATION_SOURCE_REFS = {
  /** KF: open_kfid (the corp's account) and WeCom's msgid, exact (DECISIONS 8). */
  kfMessage: (openKfId: string, msgid: string) => `kf:${openKfId}:${msgid}`,
  /** Archive: WeCom's msgid, exact; the archive seq is in the payload. */
  archiveMessage: (msgid: string) => `archive:${msgid}`,
  archivePlaceholder: (archiveSeq: string) => `archive-seq:${archiveSeq}`,
  media: (messageSourceRef: string, sha256OrFailure: string) => `media:${messageSourceRef}:${sha256OrFailure}`,
} as const;

/**
 * `payload` of a `conversation.message` record. `message` is WeCom's object exactly as received
 * (ids as strings); the other fields are read from it so that signals, the timeline and the
 * completeness report never parse channel formats.
 */
export interface ConversationMessagePayload {
  channel: ConversationChannel;
  role: ConversationRole;
  /** WeCom's message id, exact. */
  msgid: string;
  /** text, image, voice, video, file, link, location, miniprogram, event, or WeCom's own name for an unknown type. */
  msgtype: string;
  /** The text a person wrote (text messages; voice-to-text where WeCom gives it), for signals and the timeline. */
  text?: string;
  /** The member who wrote or served, lower-cased (DECISIONS 8). */
  recruiter?: string;
  /** KF account of the conversation. */
  open_kfid?: string;
  /** The message as received from WeCom. */
  message: { [key: string]: unknown };
}
