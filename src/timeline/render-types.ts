import type { ConversationChannel, ConversationRole } from '../conversations';
import type { CheckedRecord } from '../evidence';

/** What a timeline renderer makes of one record (render.ts, render-offers.ts). */

export type TimelineRole = ConversationRole;

export interface RenderedEntry {
  role: TimelineRole;
  summary: string;
  /** The conversation channel, for messages and what concerns them. */
  channel?: ConversationChannel;
}

export type EntryRenderer = (record: CheckedRecord) => RenderedEntry;
export type EntryRenderers = Readonly<Record<string, EntryRenderer>>;
