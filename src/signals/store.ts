import type { Pool } from 'pg';
import type { Logger } from '../observability/logger';
import { HIRELEDGER_ACTOR } from '../platform/names';
import { memberUserId } from '../wecom/names';
import { createClassifier, ROLE_OF_TYPE, validateRule, type Classifier, type SignalRule } from './classifier';
import { DEFAULT_RULES } from './defaults';
import type { SignalType } from './names';

/**
 * The rules in PostgreSQL (migrations/1764547200001-signals.sql): `signal_rules` holds each corp's
 * current rules, `signal_rule_versions` every version ever saved. The database numbers the versions
 * (a trigger), so a rule saved here, or edited by hand in psql, is versioned alike.
 */

type Db = Pick<Pool, 'query'>;

interface RuleRow {
  id: string;
  type: SignalType;
  version: number;
  description: string;
  terms: string[];
  patterns: string[];
  negation_guard: boolean;
  question_guard: boolean;
  advice_guard: boolean;
  third_party_guard: boolean;
  enabled: boolean;
  updated_by: string;
  updated_at: Date;
}

const COLUMNS =
  'id, type, version, description, terms, patterns, negation_guard, question_guard, advice_guard, third_party_guard, enabled, updated_by, updated_at';

function ruleOf(r: RuleRow): SignalRule {
  return {
    id: r.id,
    type: r.type,
    version: r.version,
    description: r.description,
    terms: r.terms,
    patterns: r.patterns,
    guards: { negation: r.negation_guard, question: r.question_guard, advice: r.advice_guard, thirdParty: r.third_party_guard },
    enabled: r.enabled,
  };
}

/** A stored rule with who saved it and when. */
export type StoredRule = SignalRule & { updatedBy: string; updatedAt: Date };

function storedOf(r: RuleRow): StoredRule {
  return { ...ruleOf(r), updatedBy: r.updated_by, updatedAt: r.updated_at };
}

/**
 * Saves a rule (new, or a change of one): validated first (a pattern that does not compile, or
 * could backtrack without end, is refused here, never stored), then inserted or updated. Returns
 * the rule as stored, with the version the database gave it. `updatedBy`: the admin's userid.
 */
export async function saveRule(
  db: Db,
  corpId: string,
  rule: Omit<SignalRule, 'version'>,
  updatedBy: string,
): Promise<StoredRule> {
  validateRule({ ...rule, version: 1 });
  const by = updatedBy === HIRELEDGER_ACTOR ? updatedBy : memberUserId(updatedBy);
  const { rows } = await db.query<RuleRow>(
    `INSERT INTO signal_rules (corp_id, id, type, role, version, description, terms, patterns, negation_guard, question_guard,
                               advice_guard, third_party_guard, enabled, updated_by, updated_at)
     VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $8, $9, $10, $11, $12, $13, now())
     ON CONFLICT (corp_id, id) DO UPDATE
        SET description = EXCLUDED.description, terms = EXCLUDED.terms, patterns = EXCLUDED.patterns,
            negation_guard = EXCLUDED.negation_guard, question_guard = EXCLUDED.question_guard,
            advice_guard = EXCLUDED.advice_guard, third_party_guard = EXCLUDED.third_party_guard,
            enabled = EXCLUDED.enabled, updated_by = EXCLUDED.updated_by,
            -- The type of a rule never changes (the trigger refuses it): saying so makes the refusal
            -- reach the caller instead of silently keeping the old type.
            type = EXCLUDED.type, role = EXCLUDED.role
     RETURNING ${COLUMNS}`,
    insertValues(corpId, rule, by),
  );
  const row = rows[0];
  if (!row) throw new Error(`rule ${rule.id} was not saved`);
  return storedOf(row);
}

/** The values of an INSERT of a rule, in the column order both inserts above and below name. */
function insertValues(corpId: string, rule: Omit<SignalRule, 'version'>, by: string): unknown[] {
  const g = rule.guards;
  const role = ROLE_OF_TYPE[rule.type];
  return [
    corpId,
    rule.id,
    rule.type,
    role,
    rule.description,
    rule.terms,
    rule.patterns,
    g.negation,
    g.question,
    g.advice,
    g.thirdParty,
    rule.enabled,
    by,
  ];
}

/**
 * The shipped defaults a corp does not have yet, inserted at version 1; and a shipped default no
 * person ever edited (`updated_by` still HireLedger) brought up to the one shipped now, as a new
 * version (a default made safer or better reaches corps that kept it as shipped; a stored pattern
 * the cost check now refuses would otherwise leave the rule out). Never overwrites an edit.
 */
export async function ensureDefaultRules(
  db: Db,
  corpId: string,
  defaults: readonly SignalRule[] = DEFAULT_RULES,
): Promise<number> {
  let added = 0;
  for (const rule of defaults) {
    const { rowCount } = await db.query(
      `INSERT INTO signal_rules (corp_id, id, type, role, version, description, terms, patterns, negation_guard, question_guard,
                                 advice_guard, third_party_guard, enabled, updated_by)
       VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $8, $9, $10, $11, $12, $13)
       ON CONFLICT (corp_id, id) DO NOTHING`,
      insertValues(corpId, rule, HIRELEDGER_ACTOR),
    );
    added += rowCount ?? 0;
    if (rowCount) continue;
    const upgraded = await db.query(
      `UPDATE signal_rules
          SET description = $3, terms = $4, patterns = $5, negation_guard = $6, question_guard = $7,
              advice_guard = $8, third_party_guard = $9, updated_at = now()
        WHERE corp_id = $1 AND id = $2 AND updated_by = $10
          AND (description, terms, patterns, negation_guard, question_guard, advice_guard, third_party_guard)
              IS DISTINCT FROM ($3::text, $4::text[], $5::text[], $6::boolean, $7::boolean, $8::boolean, $9::boolean)`,
      [
        corpId,
        rule.id,
        rule.description,
        rule.terms,
        rule.patterns,
        rule.guards.negation,
        rule.guards.question,
        rule.guards.advice,
        rule.guards.thirdParty,
        HIRELEDGER_ACTOR,
      ],
    );
    added += upgraded.rowCount ?? 0;
  }
  return added;
}

/** A corp's current rules, in id order. */
export async function loadRules(db: Db, corpId: string): Promise<StoredRule[]> {
  const { rows } = await db.query<RuleRow>(`SELECT ${COLUMNS} FROM signal_rules WHERE corp_id = $1 ORDER BY id`, [corpId]);
  return rows.map(storedOf);
}

/** The rule as it was at a version (what a hit naming it was judged by), or null. */
export async function ruleAtVersion(db: Db, corpId: string, id: string, version: number): Promise<StoredRule | null> {
  const { rows } = await db.query<RuleRow>(
    `SELECT ${COLUMNS} FROM signal_rule_versions WHERE corp_id = $1 AND id = $2 AND version = $3`,
    [corpId, id, version],
  );
  return rows[0] ? storedOf(rows[0]) : null;
}

/**
 * The classifier of a corp's current rules, rebuilt when they change. Versions only grow and rules
 * are never deleted (only disabled), so the count of rules and the sum of their versions change
 * with every edit: one cheap query per message tells whether to reload. The shipped defaults are
 * inserted once per corp per process (a corp that deleted one as the owner gets it back: disable
 * it instead, as docs/signals.md says).
 */
export interface RuleSource {
  /** `log` hears of stored rules that are invalid (left out, the others still judge). */
  classifier(corpId: string, log?: Pick<Logger, 'error'>): Promise<Classifier>;
}

export function databaseRules(db: Db, opts: { defaults?: readonly SignalRule[] } = {}): RuleSource {
  const seeded = new Set<string>();
  const cache = new Map<string, { fingerprint: string; classifier: Classifier }>();
  return {
    async classifier(corpId, log) {
      if (!seeded.has(corpId)) {
        await ensureDefaultRules(db, corpId, opts.defaults);
        seeded.add(corpId);
      }
      const { rows } = await db.query<{ n: string; v: string }>(
        'SELECT count(*)::text AS n, coalesce(sum(version), 0)::text AS v FROM signal_rules WHERE corp_id = $1',
        [corpId],
      );
      const fingerprint = `${rows[0]?.n ?? 0}:${rows[0]?.v ?? 0}`;
      const cached = cache.get(corpId);
      if (cached && cached.fingerprint === fingerprint) return cached.classifier;
      const classifier = createClassifier(await loadRules(db, corpId), {
        onInvalid: (rule, err) =>
          log?.error({ rule: rule.id, version: rule.version, err: err.message }, 'signal rule invalid: left out until fixed'),
      });
      cache.set(corpId, { fingerprint, classifier });
      return classifier;
    },
  };
}

/** Fixed rules (tests, the classify command with `--rules`): no database. */
export function fixedRules(rules: readonly SignalRule[]): RuleSource {
  const classifier = createClassifier(rules);
  return { classifier: () => Promise.resolve(classifier) };
}
