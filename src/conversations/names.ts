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
  /** A gap whose page was pulled after all (names the gap record): nothing was lost there. */
  gapClosed: 'conversation.gap_closed',
} as const;

/**
 * Streams of the records that concern a channel account rather than one candidate: gaps (a page
 * that could not be read holds messages of unknown people), their closing, and KF events that name
 * no customer (a servicer's status). The completeness report reads these beside the candidate's own
 * stream. `open_kfid` is the corp's account, not a person (DECISIONS 4).
 */
export const CONVERSATION_STREAMS = {
  kfAccount: (openKfId: string) => `conversation:kf:${openKfId}`,
} as const;

export const CONVERSATION_SOURCE_REFS = {
  /** KF: open_kfid (the corp's account) and WeCom's msgid, exact (DECISIONS 8). */
  kfMessage: (openKfId: string, msgid: string) => `kf:${openKfId}:${msgid}`,
  /** Archive: WeCom's msgid, exact; the archive seq is in the payload. */
  archiveMessage: (msgid: string) => `archive:${msgid}`,
  archivePlaceholder: (archiveSeq: string) => `archive-seq:${archiveSeq}`,
  media: (messageSourceRef: string, sha256OrFailure: string) => `media:${messageSourceRef}:${sha256OrFailure}`,
  /**
   * KF: an item of a sync_msg page that is not a readable message (no msgid): the page's request
   * cursor (digested: WeCom's cursor is opaque) and the item's index, stable when the page is re-pulled.
   */
  kfPlaceholder: (openKfId: string, cursorDigest: string, index: number) => `kf-item:${openKfId}:${cursorDigest}:${index}`,
  /** KF: one gap per account and cursor (a page that keeps failing is one gap, not one per attempt). */
  kfGap: (openKfId: string, cursorDigest: string) => `kf-gap:${openKfId}:${cursorDigest}`,
  kfGapClosed: (openKfId: string, cursorDigest: string) => `kf-gap-closed:${openKfId}:${cursorDigest}`,
  /** KF: the messages of a window that may have left sync_msg's 3 days unread, from the last pull on. */
  kfWindowGap: (openKfId: string, fromMs: number) => `kf-window-gap:${openKfId}:${fromMs}`,
} as const;

/** Ledger consumers and jobs of the module (ARCHITECTURE.md, "Names": `<module>.<name>`). */
export const CONVERSATION_CONSUMERS = {
  /** Fetches the media of KF messages (media/get) and stores it content-addressed within the candidate. */
  kfMedia: `${CONVERSATIONS_MODULE}.kf-media`,
} as const;

export const CONVERSATION_JOBS = {
  /** Pulls every KF account, for callbacks that were lost or arrived while the pull was failing. */
  kfSweep: `${CONVERSATIONS_MODULE}.kf-sweep`,
} as const;

/** `payload` of a `conversation.media` record. */
export interface ConversationMediaPayload {
  channel: ConversationChannel;
  /** The message record whose media this is. */
  message: { seq: number; hash: string; source_ref: string };
  msgtype: string;
  media_id: string;
  status: 'stored' | 'refused' | 'failed';
  /** For `stored`: the object within the candidate (DECISIONS 11). */
  sha256?: string;
  size?: number;
  content_type?: string;
  filename?: string;
  /** true when this candidate already held the same bytes (stored once). */
  already_stored?: boolean;
  /** For `refused` and `failed`: why, and after how many attempts. */
  reason?: string;
  attempts?: number;
  error?: { [key: string]: string | number | boolean | null };
}

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
