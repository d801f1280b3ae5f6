import { CONVERSATIONS_MODULE } from '../names';

/**
 * Names of the chat-archive channel (会话内容存档), beside the conversation names it shares with
 * the KF channel (src/conversations/names.ts: CONVERSATION_SOURCES.archive, CONVERSATION_KINDS,
 * CONVERSATION_SOURCE_REFS.archiveMessage / archivePlaceholder).
 *
 * Every archive `seq` is accounted for by one page record on the corp's archive stream, which says
 * what became of each item (a message or consent on a candidate's stream, a placeholder, or left
 * out and why): the archive's seq is a ledger of its own, and the completeness report reads it.
 * The stream names the corp, never a person (DECISIONS 4).
 */

export const ARCHIVE_MODULE = `${CONVERSATIONS_MODULE}-archive`;

export const ARCHIVE_STREAMS = {
  /** Pages, placeholders and gaps of one corp's archive. */
  corp: (corpId: string) => `conversation-archive:${corpId}`,
} as const;

export const ARCHIVE_KINDS = {
  /** One committed GetChatData page: the seq range and the outcome of each item in it. */
  page: 'conversation.archive_page',
} as const;

export const ARCHIVE_SOURCE_REFS = {
  page: (fromSeq: number, toSeq: number) => `archive-page:${fromSeq}-${toSeq}`,
  /** seqs WeCom did not return (older than its five days, or never given). */
  gap: (fromSeq: number, toSeq: number) => `archive-gap:${fromSeq}-${toSeq}`,
  /**
   * A consent WeCom answered to msgaudit/check_single_agree: the candidate (opaque), the member, the
   * status and WeCom's status_change_time (seconds; `none` when absent). Asked again unchanged: the same key.
   */
  consentCheck: (candidateId: string, userid: string, status: string, changeSec: number | null) =>
    `consent-check:${candidateId}:${userid}:${status}:${changeSec ?? 'none'}`,
} as const;

export const ARCHIVE_CONSUMERS = {
  /** Fetches the media of archive messages (GetMediaData) into the media store. */
  media: `${CONVERSATIONS_MODULE}.archive-media`,
} as const;

export const ARCHIVE_JOBS = {
  /** The scheduled pull: runs whether or not msgaudit_notify arrives. */
  pull: `${CONVERSATIONS_MODULE}.archive.pull`,
} as const;

/** Why an item of the archive is not a candidate's message (named in its page record). */
export type ArchiveSkipReason = 'group_chat' | 'internal' | 'switch' | 'robot' | 'no_external_party' | 'several_external_parties';
