import { loadDotEnvOnce } from '../src/config/dotenv';
import { parseArgs } from 'node:util';
import { Pool } from 'pg';
import { createCandidateDirectory } from '../src/candidates';
import { readTimeline, resolveCandidate, type TimelineProblem } from '../src/timeline';

/**
 * `npm run candidate:timeline -- <external_userid | cd_…> [--verify] [--limit N] [--after SEQ]`
 *
 * Prints a candidate's timeline as JSON lines: one `{"type":"entry",…}` per record of the
 * candidate's stream in seq order (a link carries the record it links), then one
 * `{"type":"end",…}` with the count, the cursor of the next page (`next_after_seq`, null at the
 * end) and, with --verify, what re-verification found. Without --limit the whole timeline is
 * printed, read a thousand entries at a time. --verify re-hashes every record printed, checks every
 * chain link of the candidate's stream (and its head when the end is reached) and every linked
 * record: it reads no one else's records.
 *
 * The external_userid is WeCom's, exact (case-sensitive); it is looked up in this corp
 * (WECOM_CORP_ID) and never printed. Exit 0 when printed (and verified), 2 when verification found
 * a problem, 1 when it could not run (unknown candidate, bad arguments, no database).
 */
const USAGE = 'usage: npm run candidate:timeline -- <external_userid|cd_id> [--verify] [--limit N] [--after SEQ]\n';
const PAGE = 1000;

function positiveInt(name: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d{1,15}$/.test(v) || Number(v) < min) throw new Error(`--${name} must be a whole number ≥ ${min}`);
  return Number(v);
}

async function main(): Promise<number> {
  loadDotEnvOnce();
  const { values, positionals } = parseArgs({
    options: {
      verify: { type: 'boolean' },
      limit: { type: 'string' },
      after: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new Error('name one candidate: an external_userid or a cd_ id');
  const key = positionals[0] as string;
  const limit = positiveInt('limit', values.limit, 1);
  let after = positiveInt('after', values.after, 0) ?? 0;
  const url = process.env['DATABASE_URL'];
  if (!url) throw new Error('DATABASE_URL is required but not set');
  const corpId = process.env['WECOM_CORP_ID'];
  if (!corpId) throw new Error('WECOM_CORP_ID is required but not set');

  const pool = new Pool({ connectionString: url, max: 2 });
  pool.on('error', () => undefined);
  try {
    const candidate = await resolveCandidate(createCandidateDirectory(pool), corpId, key);
    if (!candidate) throw new Error('未找到该候选人（本企业没有这个 external_userid 或候选人 id）');
    const verify = values.verify === true;
    const problems: TimelineProblem[] = [];
    let printed = 0;
    let verifiedRecords = 0;
    let verifiedLinked = 0;
    let next: number | null = after;
    while (next !== null && (limit === undefined || printed < limit)) {
      const page = await readTimeline(pool, candidate, {
        afterSeq: after,
        limit: limit === undefined ? PAGE : Math.min(PAGE, limit - printed),
        verify,
      });
      let out = '';
      for (const e of page.entries) out += `${JSON.stringify({ type: 'entry', ...e })}\n`;
      if (out !== '' && !process.stdout.write(out)) await new Promise((r) => process.stdout.once('drain', r));
      printed += page.entries.length;
      if (page.verification) {
        problems.push(...page.verification.problems);
        verifiedRecords += page.verification.records;
        verifiedLinked += page.verification.linked_records;
      }
      next = page.next_after_seq;
      if (next !== null) after = next;
    }
    const end = {
      type: 'end',
      candidate_id: candidate.candidateId,
      stream: candidate.stream,
      streams: candidate.streams,
      entries: printed,
      next_after_seq: next,
      ...(verify
        ? {
            verification: {
              ok: problems.length === 0,
              records: verifiedRecords,
              linked_records: verifiedLinked,
              reached_head: next === null,
              problems,
            },
          }
        : {}),
    };
    process.stdout.write(`${JSON.stringify(end)}\n`);
    return problems.length === 0 ? 0 : 2;
  } finally {
    await pool.end();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`candidate:timeline: ${(err as Error).message}\n${USAGE}`);
    process.exit(1);
  },
);
