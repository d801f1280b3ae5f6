import { archiveChannelStatus } from '../src/conversations/archive';
import type { ChannelStatus } from '../src/timeline';

/** Each conversation channel's status in this deployment, as candidate:completeness and evidence:export report it. */

export type ArchiveSettings = Parameters<typeof archiveChannelStatus>[0];

export function channelStatuses(config: ArchiveSettings): { kf: ChannelStatus; archive: ChannelStatus } {
  const archive = archiveChannelStatus(config);
  return {
    // The KF channel needs nothing beyond the app's own credentials: it runs wherever the worker
    // runs the conversations module (kf_msg_or_event pulls at once, a sweep every 5 minutes).
    kf: { state: 'on', detail: '微信客服通道随 worker 运行：回调触发拉取，并定时同步' },
    // A misconfigured archive stops the worker from starting: nothing is captured, so it is off.
    archive: { state: archive.state === 'on' ? 'on' : 'off', detail: archive.detail },
  };
}

/** The chat archive's MSGAUDIT_* variables: what its status rests on, not the whole configuration. */
export function archiveSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): ArchiveSettings {
  const archive: { -readonly [K in keyof ArchiveSettings]: ArchiveSettings[K] } = {};
  for (const name of ['MSGAUDIT_SDK_LIBRARY', 'MSGAUDIT_SECRET', 'MSGAUDIT_PRIVATE_KEYS'] as const) {
    const value = env[name] || undefined;
    if (value !== undefined) archive[name] = value;
  }
  return archive;
}
