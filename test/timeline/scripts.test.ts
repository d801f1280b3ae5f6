import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CANDIDATE_KINDS, createCandidateDirectory } from '../../src/candidates';
import {
  CONVERSATION_KINDS,
  CONVERSATION_SOURCE_REFS,
  CONVERSATION_SOURCES,
  CONVERSATION_STREAMS,
} from '../../src/conversations';
import { createLedger, type Ledger } from '../../src/evidence';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { testEnv } from '../support/env';
import { TEST_KEYS } from '../support/keys';

/**
 * The two commands as an operator runs them: their own process, the app's environment (least
 * privileged login), a candidate named by WeCom's external_userid or by opaque id.
 */

const run = promisify(execFile);
const tsx = join(__dirname, '..', '..', 'node_modules', '.bin', 'tsx');
const script = (name: string) => join(__dirname, '..', '..', 'scripts', name);
const EXTERNAL = 'wmScriptCandidate01';
const KFID = 'wkScriptAccount01';

async function exec(name: string, args: string[], env: Record<string, string>) {
  return run(tsx, [script(name), ...args], { env, maxBuffer: 16 * 1024 * 1024 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

describe('candidate:timeline and candidate:completeness', () => {
  let db: TestDatabase;
  let ledger: Ledger;
  let env: Record<string, string>;
  let candidateId: string;
  let stream: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    ledger = createLedger({ pool: db.appPool });
    env = testEnv({ DATABASE_URL: db.appUrl });
    const directory = createCandidateDirectory(db.appPool);
    const made = await ledger.transact(async (tx) => {
      const c = await directory.candidateFor(tx, TEST_KEYS.corpId, EXTERNAL, { via: 'kf', openKfId: KFID });
      return { result: c, entries: c.entries };
    });
    candidateId = made.result.candidateId;
    stream = made.result.stream;
    for (let i = 1; i <= 5; i++) {
      await ledger.append({
        stream,
        kind: CONVERSATION_KINDS.message,
        occurredAt: new Date(Date.UTC(2026, 10, 22, 1, i)),
        actor: i % 2 ? candidateId : 'wangwu',
        source: CONVERSATION_SOURCES.kf,
        sourceRef: CONVERSATION_SOURCE_REFS.kfMessage(KFID, `s${i}`),
        payload: {
          channel: 'kf',
          role: i % 2 ? 'candidate' : 'recruiter',
          msgid: `s${i}`,
          msgtype: 'text',
          text: `第 ${i} 条`,
          open_kfid: KFID,
          message: {},
        },
        raw: null,
      });
    }
  });
  afterAll(async () => {
    await ledger.close();
    await db.drop();
  });

  test('timeline: JSON lines by external_userid, paged with --limit/--after, verified, never printing the external_userid', async () => {
    const whole = await exec('candidate-timeline.ts', [EXTERNAL, '--verify'], env);
    expect(whole.stderr).toBe('');
    expect(whole.code).toBe(0);
    const lines = whole.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l['type'])).toEqual(['entry', 'entry', 'entry', 'entry', 'entry', 'entry', 'end']);
    expect(lines[0]).toMatchObject({ kind: CANDIDATE_KINDS.created, stream });
    expect(lines[1]).toMatchObject({
      summary: '候选人（微信客服）：第 1 条',
      occurred_at_shanghai: '2026-11-22T09:01:00.000+08:00',
    });
    expect(lines[6]).toEqual({
      type: 'end',
      candidate_id: candidateId,
      stream,
      streams: [stream],
      entries: 6,
      next_after_seq: null,
      verification: { ok: true, records: 6, linked_records: 0, reached_head: true, problems: [] },
    });
    expect(whole.stdout).not.toContain(EXTERNAL);

    const first = await exec('candidate-timeline.ts', [candidateId, '--limit', '4'], env);
    const firstLines = first.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(firstLines).toHaveLength(5);
    const end = firstLines[4] as { next_after_seq: number };
    expect(end.next_after_seq).toBe(firstLines[3]?.['seq']);
    const rest = await exec('candidate-timeline.ts', [candidateId, '--after', String(end.next_after_seq)], env);
    const restLines = rest.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect([...firstLines.slice(0, 4), ...restLines.slice(0, -1)]).toEqual(lines.slice(0, 6));
  });

  test('timeline: an unknown candidate is refused with a reason, exit 1', async () => {
    const r = await exec('candidate-timeline.ts', ['wmNobodyKnows'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('未找到该候选人');
    expect(r.stdout).toBe('');
  });

  test('completeness: the archive channel off (no SDK configured) and an open KF gap → exit 3, both named', async () => {
    const gap = await ledger.append({
      stream: CONVERSATION_STREAMS.kfAccount(KFID),
      kind: CONVERSATION_KINDS.gap,
      occurredAt: new Date(Date.UTC(2026, 10, 22, 2, 0)),
      actor: 'hireledger',
      source: CONVERSATION_SOURCES.kf,
      sourceRef: CONVERSATION_SOURCE_REFS.kfGap(KFID, 'abc123'),
      payload: { channel: 'kf', open_kfid: KFID, reason: 'sync_msg 失败' },
      raw: null,
    });
    const r = await exec('candidate-completeness.ts', [EXTERNAL, '--verify'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(3);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a JSON document checked with expect
    const report = JSON.parse(r.stdout) as Record<string, any>;
    expect(report).toMatchObject({ candidate_id: candidateId, complete: false, verification: { ok: true } });
    expect(report['channels'].archive.status.state).toBe('off');
    expect(report['channels'].kf).toMatchObject({ messages: 5, by_role: { candidate: 3, recruiter: 2 } });
    expect(report['issues']).toEqual([expect.objectContaining({ type: 'gap', seq: gap.seq, hash: gap.hash, scope: 'account' })]);
    expect(report['findings']).toHaveLength(2);
    expect(r.stdout).not.toContain(EXTERNAL);
  });
});
