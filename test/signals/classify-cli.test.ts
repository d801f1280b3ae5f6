import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { databaseRules, loadRules, saveRule, type SignalRule } from '../../src/signals';
import { createTestDatabase, type TestDatabase } from '../support/db';

/**
 * `npm run signals:classify`: one message per line in, one JSON object per line out, with the
 * rules saved in the database when it is reachable (so HR tries what is saved), else the shipped
 * defaults, and an unsaved rule file laid over either. Which rules were used is said on stderr.
 */

const SCRIPT = join(__dirname, '..', '..', 'scripts', 'signals-classify.ts');
const CORP = 'wwsignalscli';

async function classify(
  input: string,
  env: Record<string, string>,
  args: string[] = [],
): Promise<{ code: number | null; out: unknown[]; err: string }> {
  // Only PATH and what the test gives (NODE_ENV=test skips .env): no DATABASE_URL of the machine leaks in.
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, ...args], {
    env: { PATH: process.env['PATH'] ?? '', NODE_ENV: 'test', ...env },
    cwd: join(__dirname, '..', '..'),
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
  child.stdin.end(input);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  return {
    code,
    out: out
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as unknown),
    err,
  };
}

const INPUT = [
  'candidate: 我已经提离职了',
  'recruiter: 请在收到正式offer之前不要提出离职',
  'recruiter：offer没问题，下周一直接来上班',
  '',
  '# a comment',
  'candidate: 让我缓缓',
].join('\n');

describe('npm run signals:classify', () => {
  let db: TestDatabase | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await db?.drop();
    db = undefined;
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  test('without a database: the shipped defaults, one JSON line per message', async () => {
    const { code, out, err } = await classify(`${INPUT}\nno role here\n`, { DATABASE_URL: '' });
    expect(err).toContain('rules from shipped defaults');
    expect(err).toContain('line 7: start it with "candidate:" or "recruiter:"');
    expect(code).toBe(1);
    expect(out).toEqual([
      {
        role: 'candidate',
        text: '我已经提离职了',
        signals: [{ type: 'resigned_before_offer', rule: 'res.already', match: '已经提离职' }],
      },
      { role: 'recruiter', text: '请在收到正式offer之前不要提出离职', signals: [] },
      {
        role: 'recruiter',
        text: 'offer没问题，下周一直接来上班',
        signals: [{ type: 'over_promise', rule: 'ovp.certain', match: 'offer没问题' }],
      },
      { role: 'candidate', text: '让我缓缓', signals: [] },
    ]);
  }, 60000);

  test("with the database: the corp's saved rules; an unsaved file laid over them", async () => {
    db = await createTestDatabase();
    await databaseRules(db.appPool).classifier(CORP);
    const rule = (await loadRules(db.appPool, CORP)).find((r) => r.id === 'hes.reconsider') as SignalRule;
    await saveRule(db.appPool, CORP, { ...rule, terms: [...rule.terms, '让我缓缓'] }, 'chenjing');

    const saved = await classify(INPUT, { DATABASE_URL: db.url, WECOM_CORP_ID: CORP });
    expect(saved.code).toBe(0);
    expect(saved.err).toContain(`rules from the database`);
    expect(saved.out[3]).toEqual({
      role: 'candidate',
      text: '让我缓缓',
      signals: [{ type: 'hesitation', rule: 'hes.reconsider', match: '让我缓缓' }],
    });

    dir = await mkdtemp(join(tmpdir(), 'signals-cli-'));
    const file = join(dir, 'try.json');
    await writeFile(file, JSON.stringify([{ id: 'ovp.certain', enabled: false }]));
    const tried = await classify(INPUT, { DATABASE_URL: db.url, WECOM_CORP_ID: CORP }, ['--rules', file]);
    expect(tried.err).toContain('with 1 unsaved rule change(s)');
    // ovp.certain off: the same message is still an over-promise, found by the start-date rule.
    expect(tried.out[2]).toEqual({
      role: 'recruiter',
      text: 'offer没问题，下周一直接来上班',
      signals: [{ type: 'over_promise', rule: 'ovp.start_date', match: '下周一直接来上班' }],
    });
    // Nothing was saved.
    expect((await loadRules(db.appPool, CORP)).find((r) => r.id === 'ovp.certain')?.enabled).toBe(true);
  }, 60000);
});
