import { loadDotEnvOnce } from '../src/config/dotenv';
import { parseArgs } from 'node:util';
import { Pool } from 'pg';
import { createCandidateDirectory } from '../src/candidates';
import { ARCHIVE_STREAMS } from '../src/conversations/archive';
import { completenessReport, resolveCandidate } from '../src/timeline';
import { archiveSettingsFromEnv, channelStatuses, type ArchiveSettings } from './channel-status';

/**
 * `npm run candidate:completeness -- <external_userid | cd_…> [--verify]`
 *
 * Prints one JSON document: which messages HireLedger holds for the candidate, from which channel,
 * over which records and times, and every gap, unreadable item, failed media and consent change
 * that may concern them, with each channel's status as this deployment's configuration gives it
 * (src/timeline/completeness.ts). A legal export includes it. --verify re-verifies every record the
 * report rests on.
 *
 * Reads DATABASE_URL, WECOM_CORP_ID and the chat archive's MSGAUDIT_* (its status). The
 * external_userid is WeCom's, exact, looked up in this corp and never printed. Exit 0 when the
 * report is complete, 3 when it names something missing (or a channel that is off), 2 when
 * verification found a problem, 1 when it could not run.
 */
const USAGE = 'usage: npm run candidate:completeness -- <external_userid|cd_id> [--verify]\n';

/** The variables this command reads: what the report rests on, not the whole service's configuration. */
function settings(): { databaseUrl: string; corpId: string; archive: ArchiveSettings } {
  const databaseUrl = process.env['DATABASE_URL'] || undefined;
  if (!databaseUrl) throw new Error('DATABASE_URL is required but not set');
  const corpId = process.env['WECOM_CORP_ID'] || undefined;
  if (!corpId) throw new Error('WECOM_CORP_ID is required but not set');
  return { databaseUrl, corpId, archive: archiveSettingsFromEnv() };
}

async function main(): Promise<number> {
  loadDotEnvOnce();
  const { values, positionals } = parseArgs({
    options: { verify: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new Error('name one candidate: an external_userid or a cd_ id');
  const config = settings();
  const pool = new Pool({ connectionString: config.databaseUrl, max: 2 });
  pool.on('error', () => undefined);
  try {
    const candidate = await resolveCandidate(createCandidateDirectory(pool), config.corpId, positionals[0] as string);
    if (!candidate) throw new Error('未找到该候选人（本企业没有这个 external_userid 或候选人 id）');
    const report = await completenessReport(pool, candidate, {
      channels: channelStatuses(config.archive),
      sharedStreams: [ARCHIVE_STREAMS.corp(config.corpId)],
      verify: values.verify === true,
    });
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    if (report.verification && !report.verification.ok) return 2;
    return report.complete ? 0 : 3;
  } finally {
    await pool.end();
  }
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`candidate:completeness: ${(err as Error).message}\n${USAGE}`);
      process.exit(1);
    },
  );
}
