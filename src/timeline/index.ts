/**
 * A candidate's timeline and completeness report (issue 9 items 4 and 5), read from the candidate's
 * own stream and the records it links, re-verifiable without walking anyone else's records. Read
 * only: this domain writes nothing. Other domains and entry points reach it through this file.
 */

export {
  completenessReport,
  type ChannelHoldings,
  type ChannelState,
  type ChannelStatus,
  type CompletenessIssue,
  type CompletenessOptions,
  type CompletenessReport,
  type HeldRange,
  type IssueType,
} from './completeness';
export {
  CHANNEL_LABEL,
  DEFAULT_RENDERERS,
  ROLE_LABEL,
  type EntryRenderer,
  type EntryRenderers,
  type RenderedEntry,
  type TimelineRole,
} from './render';
export { shanghaiTime } from './time';
export {
  linkTarget,
  readTimeline,
  resolveCandidate,
  type TimelineCandidate,
  type TimelineEntry,
  type TimelineOptions,
  type TimelinePage,
  type TimelineProblem,
  type TimelineRecordView,
  type TimelineVerification,
  type TimelineWho,
} from './timeline';
