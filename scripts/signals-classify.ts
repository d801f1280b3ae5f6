import { loadDotEnvOnce } from '../src/config/dotenv';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Pool } from 'pg';
import {
  createClassifier,
  DEFAULT_RULES,
  loadRules,
  NO_OFFER_APPROVED,
  overlayRules,
  parseRuleFile,
  type SignalRole,
  type SignalRule,
} from '../src/signals';

/**
 * `npm run signals:classify [-- --rules <file.json>] [-- --defaults]`
 *
 * Reads one message per line on stdin, `candidate: <text>` or `recruiter: <text>`, judges it as if
 * no offer were approved, and prints one JSON object per line:
 * `{"role","text","signals":[{"type","rule","match"}]}`.
 *
 * The rules: the corp's saved rules from the database (DATABASE_URL, WECOM_CORP_ID) when it is
 * reachable and holds some, so HR can try what is saved; else the shipped defaults. `--defaults`
 * uses the shipped defaults whatever the database holds. `--rules <file>` lays rules that are NOT
 * saved over those, by id: a JSON array of rules, each with at least `id`; a known id takes the
 * fields given (`terms`, `patterns`, `guards`, `enabled`, `description`), a new id needs `type` too.
 * Which rules were used is said on stderr. Lines that are empty or start with `#` are skipped; a
 * line without a role prefix is refused on stderr (exit code 1 at the end).
 */

const USAGE = 'usage: npm run signals:classify [-- --rules <file.json>] [--defaults] < messages.txt\n';

async function savedRules(): Promise<{ rules: SignalRule[]; from: string }> {
  const url = process.env['DATABASE_URL'];
  const corp = process.env['WECOM_CORP_ID'];
  if (!url || !corp) return { rules: [...DEFAULT_RULES], from: 'shipped defaults (DATABASE_URL or WECOM_CORP_ID not set)' };
  const pool = new Pool({ connectionString: url, max: 1, connectionTimeoutMillis: 3000 });
  pool.on('error', () => undefined);
  try {
    const rules = await loadRules(pool, corp);
    if (rules.length === 0) return { rules: [...DEFAULT_RULES], from: `shipped defaults (no rules saved for corp ${corp} yet)` };
    return { rules, from: `the database (${rules.length} rules of corp ${corp})` };
  } catch (err) {
    return { rules: [...DEFAULT_RULES], from: `shipped defaults (database not usable: ${(err as Error).message})` };
  } finally {
    await pool.end();
  }
}

async function main(): Promise<number> {
  loadDotEnvOnce();
  const { values } = parseArgs({
    options: {
      rules: { type: 'string' },
      defaults: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const base = values.defaults ? { rules: [...DEFAULT_RULES], from: 'shipped defaults (--defaults)' } : await savedRules();
  let rules = base.rules;
  let from = base.from;
  if (values.rules) {
    const list = parseRuleFile(await readFile(values.rules, 'utf8'));
    rules = overlayRules(rules, list);
    from += `, with ${list.length} unsaved rule change(s) from ${values.rules}: ${list.map((p) => p.id).join(', ')}`;
  }
  const classifier = createClassifier(rules);
  process.stderr.write(`signals:classify: rules from ${from}; judged as if no offer were approved\n`);

  let bad = 0;
  let n = 0;
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    n++;
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    const m = /^\s*(candidate|recruiter)\s*[:：]\s?(.*)$/.exec(line);
    if (!m) {
      bad++;
      process.stderr.write(`line ${n}: start it with "candidate:" or "recruiter:"\n`);
      continue;
    }
    const role = m[1] as SignalRole;
    const text = m[2] ?? '';
    const signals = classifier
      .classify(role, text, NO_OFFER_APPROVED)
      .map((h) => ({ type: h.type, rule: h.rule, match: h.match.text }));
    process.stdout.write(`${JSON.stringify({ role, text, signals })}\n`);
  }
  return bad > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`signals:classify: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
