import { accessSync, constants, statSync } from 'node:fs';
import type { Pool } from 'pg';
import type { Config } from '../../config/env';

/**
 * Whether the chat-archive channel runs, for /health and the completeness report. Without WeCom's
 * Finance SDK (MSGAUDIT_SDK_LIBRARY unset) the channel is off and says so: recruiters' own 1:1
 * chats are then NOT captured, and nothing may suggest otherwise. Read from the configuration and
 * the file system only: the API process never loads the library.
 */

export type ArchiveConfig = Pick<
  Config,
  | 'WECOM_CORP_ID'
  | 'MSGAUDIT_SDK_LIBRARY'
  | 'MSGAUDIT_SECRET'
  | 'MSGAUDIT_PRIVATE_KEYS'
  | 'MSGAUDIT_PROXY'
  | 'MSGAUDIT_PROXY_PASSWORD'
  | 'MSGAUDIT_PULL_INTERVAL_SECONDS'
>;

export interface ArchiveChannelStatus {
  channel: 'archive';
  /** off: not configured (nothing captured); on: configured; misconfigured: set but unusable (the worker refuses to start). */
  state: 'off' | 'on' | 'misconfigured';
  /** For people (Chinese), naming what is missing. */
  detail: string;
  problems: string[];
}

export function archiveChannelStatus(
  config: Omit<ArchiveConfig, 'WECOM_CORP_ID' | 'MSGAUDIT_PULL_INTERVAL_SECONDS'>,
): ArchiveChannelStatus {
  if (!config.MSGAUDIT_SDK_LIBRARY) {
    return {
      channel: 'archive',
      state: 'off',
      detail: '会话内容存档通道未开启：未配置 MSGAUDIT_SDK_LIBRARY（企业微信 Finance SDK），招聘人员的单聊消息没有被采集',
      problems: [],
    };
  }
  const problems: string[] = [];
  try {
    accessSync(config.MSGAUDIT_SDK_LIBRARY, constants.R_OK);
  } catch {
    problems.push(`MSGAUDIT_SDK_LIBRARY ${config.MSGAUDIT_SDK_LIBRARY} 不存在或不可读`);
  }
  if (!config.MSGAUDIT_SECRET) problems.push('未配置 MSGAUDIT_SECRET（会话内容存档的 Secret）');
  if (!config.MSGAUDIT_PRIVATE_KEYS) problems.push('未配置 MSGAUDIT_PRIVATE_KEYS（按 publickey_ver 命名的 RSA 私钥）');
  else {
    try {
      statSync(config.MSGAUDIT_PRIVATE_KEYS);
    } catch {
      problems.push(`MSGAUDIT_PRIVATE_KEYS ${config.MSGAUDIT_PRIVATE_KEYS} 不存在`);
    }
  }
  if (problems.length > 0) {
    return { channel: 'archive', state: 'misconfigured', detail: `会话内容存档通道配置有误：${problems.join('；')}`, problems };
  }
  return { channel: 'archive', state: 'on', detail: '会话内容存档通道已开启', problems };
}

/** Where the pull stands, for /health: the status plus the cursor's last pull and failure. */
export async function archiveChannelHealth(
  config: ArchiveConfig,
  db: Pick<Pool, 'query'>,
): Promise<{ ok: boolean; detail: string }> {
  const status = archiveChannelStatus(config);
  if (status.state !== 'on') return { ok: status.state === 'off', detail: status.detail };
  const { rows } = await db.query<{ last_seq: string; last_pulled_at: Date | null; failures: number; last_error: string | null }>(
    'SELECT last_seq, last_pulled_at, failures, last_error FROM chat_archive_cursors WHERE corp_id = $1',
    [config.WECOM_CORP_ID],
  );
  const row = rows[0];
  if (!row?.last_pulled_at) {
    return {
      ok: (row?.failures ?? 0) === 0,
      detail: `会话内容存档通道已开启，尚未完成拉取${row?.last_error ? `；最近错误：${row.last_error}` : ''}`,
    };
  }
  // WeCom keeps five days: a pull older than a day (or failing) is an operator's problem now.
  const stale = Date.now() - row.last_pulled_at.getTime() > 24 * 3600 * 1000;
  return {
    ok: row.failures === 0 && !stale,
    detail:
      `会话内容存档通道已开启；seq ${row.last_seq}，最近拉取 ${row.last_pulled_at.toISOString()}` +
      (row.failures > 0 ? `；连续失败 ${row.failures} 次：${row.last_error ?? ''}` : '') +
      (stale ? '；超过一天未拉取（企业微信只保留五天）' : ''),
  };
}
