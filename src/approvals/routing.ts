/**
 * Approval routing: who approves an offer version, from editable rules and role assignments in
 * PostgreSQL (migration 1764547200011-approvals.sql, docs/approvals.md). Pure decision
 * (`chooseRoute`) plus its loaders and the admin's edit functions.
 */
import type { Pool, PoolClient } from 'pg';
import type { JsonValue } from '../evidence';
import type { OfferContent } from '../offers';

export const ROLES = ['hiring_manager', 'hrbp', 'department_head', 'hr_director'] as const;
export type Role = (typeof ROLES)[number];

export const ROLE_NAMES: Record<Role, string> = {
  hiring_manager: '用人经理',
  hrbp: 'HRBP',
  department_head: '部门负责人',
  hr_director: 'HR总监',
};

export type Condition = { always: true } | { above_band_pct_gt: number } | { level_at_least: string };

export interface Rule {
  id: string;
  version: number;
  priority: number;
  enabled: boolean;
  whenAny: Condition[];
  addRoles: Role[];
  note: string;
  /** '*' when it is the shipped default. */
  corpId: string;
}

export type Assignments = Map<Role, string[]>;

export interface Band {
  min: number | null;
  max: number | null;
}

export interface RouteNode {
  role: Role;
  userids: string[];
}

export interface Route {
  nodes: RouteNode[];
  /** The rules that applied, with the definition they had (id, version, what they said). */
  rules: { id: string; version: number; default: boolean; when_any: JsonValue; add_roles: string[]; matched: string[] }[];
  /** How far above the band's maximum the base salary is, in percent (2 decimals), or null without a band. */
  aboveBandPct: number | null;
}

export class RoutingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RoutingError';
  }
}

const LEVEL = /^P(\d{1,2})$/i;

export function parseConditions(v: unknown): Condition[] {
  if (!Array.isArray(v) || v.length === 0) throw new RoutingError('规则至少要有一个条件');
  return v.map((c: unknown): Condition => {
    if (typeof c !== 'object' || c === null || Array.isArray(c) || Object.keys(c).length !== 1) {
      throw new RoutingError('每个条件只能有一个键');
    }
    const o = c as Record<string, unknown>;
    if (o['always'] === true) return { always: true };
    const pct = o['above_band_pct_gt'];
    if (pct !== undefined) {
      if (typeof pct !== 'number' || !Number.isInteger(pct) || pct < 0 || pct > 1000) {
        throw new RoutingError('above_band_pct_gt 必须是 0–1000 的整数');
      }
      return { above_band_pct_gt: pct };
    }
    const level = o['level_at_least'];
    if (typeof level === 'string' && LEVEL.test(level)) return { level_at_least: level.toUpperCase() };
    throw new RoutingError(`无法识别的条件：${JSON.stringify(c)}`);
  });
}

function levelNumber(level: string): number | null {
  const m = LEVEL.exec(level.trim());
  return m?.[1] ? Number(m[1]) : null;
}

/** Why a condition holds, or null. Integer arithmetic only (whole yuan). */
function holds(c: Condition, content: OfferContent, band: Band): string | null {
  if ('always' in c) return 'always';
  if ('above_band_pct_gt' in c) {
    if (band.max === null) return null;
    // base > max × (1 + pct/100)  ⇔  base × 100 > max × (100 + pct)
    return content.base_monthly_yuan * 100 > band.max * (100 + c.above_band_pct_gt)
      ? `above_band_pct_gt:${c.above_band_pct_gt}`
      : null;
  }
  const have = levelNumber(content.level);
  const want = levelNumber(c.level_at_least);
  return have !== null && want !== null && have >= want ? `level_at_least:${c.level_at_least}` : null;
}

/**
 * The route for one version: the enabled rules in priority order, each whose condition holds adding
 * its roles; a role already in the route is not added twice, nor is a member already approving.
 * Refused (RoutingError) when a role has nobody assigned.
 */
export function chooseRoute(content: OfferContent, band: Band, rules: readonly Rule[], assignments: Assignments): Route {
  const nodes: RouteNode[] = [];
  const chosen: Route['rules'] = [];
  const seen = new Set<string>();
  for (const rule of [...rules].filter((r) => r.enabled).sort((a, b) => a.priority - b.priority || a.id.localeCompare(b.id))) {
    const matched = rule.whenAny.map((c) => holds(c, content, band)).filter((m): m is string => m !== null);
    if (matched.length === 0) continue;
    chosen.push({
      id: rule.id,
      version: rule.version,
      default: rule.corpId === '*',
      when_any: rule.whenAny,
      add_roles: rule.addRoles,
      matched,
    });
    for (const role of rule.addRoles) {
      if (nodes.some((n) => n.role === role)) continue;
      const holders = assignments.get(role);
      if (!holders || holders.length === 0) throw new RoutingError(`部门「${content.department}」没有配置${ROLE_NAMES[role]}`);
      const fresh = holders.filter((u) => !seen.has(u));
      // The same member in two roles approves once, at the first.
      if (fresh.length === 0) continue;
      fresh.forEach((u) => seen.add(u));
      nodes.push({ role, userids: fresh });
    }
  }
  if (nodes.length === 0) throw new RoutingError('没有规则为该 offer 选出审批人');
  const aboveBandPct =
    band.max === null || band.max === 0 ? null : Math.round(((content.base_monthly_yuan - band.max) * 10000) / band.max) / 100;
  return { nodes, rules: chosen, aboveBandPct };
}

type Q = Pick<Pool | PoolClient, 'query'>;

interface RuleRow {
  corp_id: string;
  id: string;
  version: number;
  priority: number;
  enabled: boolean;
  when_any: unknown;
  add_roles: string[];
  note: string;
}

/** The corp's rules: its own rows, and the defaults it has not replaced. */
export async function loadRules(db: Q, corpId: string): Promise<Rule[]> {
  const { rows } = await db.query<RuleRow>(
    `SELECT DISTINCT ON (id) corp_id, id, version, priority, enabled, when_any, add_roles, note
       FROM approval_rules WHERE corp_id IN ($1, '*') ORDER BY id, (corp_id = '*')`,
    [corpId],
  );
  return rows.map((r) => ({
    corpId: r.corp_id,
    id: r.id,
    version: r.version,
    priority: r.priority,
    enabled: r.enabled,
    whenAny: parseConditions(r.when_any),
    addRoles: r.add_roles as Role[],
    note: r.note,
  }));
}

/** Role holders for a department: the corp's rows for it, then the corp's '*', then the defaults. */
export async function loadAssignments(db: Q, corpId: string, department: string): Promise<Assignments> {
  const { rows } = await db.query<{ role: Role; userids: string[] }>(
    `SELECT DISTINCT ON (role) role, userids FROM approval_role_assignments
      WHERE corp_id IN ($1, '*') AND department IN ($2, '*')
      ORDER BY role, (corp_id = '*'), (department = '*')`,
    [corpId, department],
  );
  return new Map(rows.map((r) => [r.role, r.userids]));
}

export async function loadBand(db: Q, corpId: string, positionId: string): Promise<Band> {
  const { rows } = await db.query<{ salary_min: number | null; salary_max: number | null }>(
    'SELECT salary_min, salary_max FROM positions WHERE corp_id = $1 AND id = $2',
    [corpId, positionId],
  );
  return { min: rows[0]?.salary_min ?? null, max: rows[0]?.salary_max ?? null };
}

export async function routeFor(db: Q, corpId: string, content: OfferContent): Promise<Route> {
  const [band, rules, assignments] = await Promise.all([
    loadBand(db, corpId, content.position_id),
    loadRules(db, corpId),
    loadAssignments(db, corpId, content.department),
  ]);
  return chooseRoute(content, band, rules, assignments);
}

const userid = (u: string): string => {
  const v = u.trim().toLowerCase();
  if (!/^[a-z0-9_.@-]{1,64}$/.test(v)) throw new RoutingError(`成员账号无效：${u}`);
  return v;
};

/**
 * An admin's edit of a rule for one corp: a new version of it (a default is copied on first edit).
 * Routes recorded before keep the version they named.
 */
export async function saveRule(
  db: Q,
  corpId: string,
  rule: { id: string; priority: number; enabled?: boolean; whenAny: unknown; addRoles: string[]; note?: string },
  actor: string,
  at = new Date(),
): Promise<Rule> {
  if (!/^[a-z0-9_]{1,64}$/.test(rule.id)) throw new RoutingError('规则 id 只能是小写字母、数字和下划线');
  const whenAny = parseConditions(rule.whenAny);
  if (rule.addRoles.length === 0 || !rule.addRoles.every((r) => (ROLES as readonly string[]).includes(r))) {
    throw new RoutingError(`角色只能是 ${ROLES.join('、')}`);
  }
  const { rows } = await db.query<{ version: number }>(
    `INSERT INTO approval_rules (corp_id, id, version, priority, enabled, when_any, add_roles, note, updated_by, updated_at)
     VALUES ($1, $2, 1 + COALESCE((SELECT max(version) FROM approval_rules WHERE id = $2 AND corp_id IN ($1, '*')), 0),
             $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (corp_id, id) DO UPDATE SET version = approval_rules.version + 1, priority = EXCLUDED.priority,
       enabled = EXCLUDED.enabled, when_any = EXCLUDED.when_any, add_roles = EXCLUDED.add_roles, note = EXCLUDED.note,
       updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at
     RETURNING version`,
    [
      corpId,
      rule.id,
      rule.priority,
      rule.enabled ?? true,
      JSON.stringify(whenAny),
      rule.addRoles,
      rule.note ?? '',
      userid(actor),
      at,
    ],
  );
  return {
    corpId,
    id: rule.id,
    version: rows[0]!.version,
    priority: rule.priority,
    enabled: rule.enabled ?? true,
    whenAny,
    addRoles: rule.addRoles as Role[],
    note: rule.note ?? '',
  };
}

/** An admin's assignment of a role in a department ('*' = every department without its own). */
export async function saveRoleAssignment(
  db: Q,
  corpId: string,
  a: { department: string; role: Role; userids: string[] },
  actor: string,
  at = new Date(),
): Promise<void> {
  if (!(ROLES as readonly string[]).includes(a.role)) throw new RoutingError(`角色只能是 ${ROLES.join('、')}`);
  const ids = [...new Set(a.userids.map(userid))];
  if (ids.length === 0) throw new RoutingError('至少指定一名成员');
  await db.query(
    `INSERT INTO approval_role_assignments (corp_id, department, role, userids, updated_by, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (corp_id, department, role) DO UPDATE SET userids = EXCLUDED.userids, updated_by = EXCLUDED.updated_by,
       updated_at = EXCLUDED.updated_at`,
    [corpId, a.department.trim(), a.role, ids, userid(actor), at],
  );
}

export async function useTemplateApprover(db: Q, corpId: string): Promise<boolean> {
  const { rows } = await db.query<{ use_template_approver: boolean }>(
    'SELECT use_template_approver FROM approval_settings WHERE corp_id = $1',
    [corpId],
  );
  return rows[0]?.use_template_approver ?? false;
}

export async function setUseTemplateApprover(
  db: Q,
  corpId: string,
  value: boolean,
  actor: string,
  at = new Date(),
): Promise<void> {
  await db.query(
    `INSERT INTO approval_settings (corp_id, use_template_approver, updated_by, updated_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT (corp_id) DO UPDATE SET use_template_approver = EXCLUDED.use_template_approver,
       updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at`,
    [corpId, value, userid(actor), at],
  );
}

/**
 * Whether a member is an HRBP of the corp, from the role assignments (any department): the offers
 * module's `isHrbp` (a rescind needs an HRBP, DECISIONS 14). Only the corp's own rows count: the
 * shipped defaults name members by userid for routing in the sandbox, and a member of that name in a
 * real corp must never be able to approve a rescind.
 */
export function hrbpsFromAssignments(db: Q): (corpId: string, userid: string) => Promise<boolean> {
  return async (corpId, member) => {
    const { rows } = await db.query<{ yes: boolean }>(
      `SELECT EXISTS (
         SELECT 1 FROM approval_role_assignments a
          WHERE a.role = 'hrbp' AND $2 = ANY (a.userids) AND a.corp_id = $1) AS yes`,
      [corpId, member.trim().toLowerCase()],
    );
    return rows[0]?.yes === true;
  };
}
