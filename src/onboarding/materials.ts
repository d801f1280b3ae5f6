import { createHash } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import type { Decision } from '../evidence';
import { memberUserId } from '../wecom/names';
import { offerNotAccepted, offerNotFound, onboardingInput } from './errors';
import { ONBOARDING_KINDS, ONBOARDING_SOURCE, ONBOARDING_SOURCE_REFS, ONBOARDING_STREAMS } from './names';

/**
 * The onboarding-materials checklist (docs/onboarding.md): what each position requires (table
 * `onboarding_requirements`, an admin's rows over the shipped default) and, per accepted offer,
 * what the recruiter marked received (`onboarding_materials`), each mark committed with its
 * `onboarding.material_received` record. The offer's state is read from the offers table, FOR
 * SHARE in the marking transaction, so a mark never lands on an offer reneged or rescinded meanwhile:
 * the only place this module looks at another domain's rows.
 */

type Q = Pick<Pool | PoolClient, 'query'>;
type Transact = <T>(work: (tx: PoolClient) => Promise<Decision<T>>) => Promise<{ result: T }>;

/** The offer states in which materials are collected: accepted, and (the first days) onboarded. */
const COLLECTING: ReadonlySet<string> = new Set(['accepted', 'onboarded']);

const MAX_MATERIAL = 64;

function material(name: unknown): string {
  if (typeof name !== 'string' || name.trim() === '')
    throw onboardingInput('material_missing', '材料名称不能为空 / material is required');
  const m = name.trim().normalize('NFC');
  if (m.length > MAX_MATERIAL)
    throw onboardingInput('material_too_long', `材料名称最长 ${MAX_MATERIAL} 字 / material name too long`);
  return m;
}

function member(userid: unknown): string {
  if (typeof userid !== 'string' || userid.trim() === '')
    throw onboardingInput('actor_missing', '操作人不能为空 / actor is required');
  const u = memberUserId(userid.trim());
  if (u.length > 256) throw onboardingInput('actor_invalid', '操作人无效 / actor is invalid');
  return u;
}

/** The materials a position requires in a corp: the corp's row for the position, else the corp's '*', else the default. */
export async function requiredMaterials(db: Q, corpId: string, positionId: string): Promise<string[]> {
  const { rows } = await db.query<{ materials: string[] }>(
    `SELECT materials FROM onboarding_requirements
      WHERE corp_id IN ($1, '*') AND position_id IN ($2, '*')
      ORDER BY (corp_id = '*'), (position_id = '*') LIMIT 1`,
    [corpId, positionId],
  );
  return rows[0]?.materials ?? [];
}

/** An admin sets what a position ('*': every position of the corp) requires. */
export async function saveRequirements(
  db: Q,
  corpId: string,
  positionId: string,
  materials: readonly string[],
  actor: string,
  now: () => number = Date.now,
): Promise<string[]> {
  if (typeof positionId !== 'string' || positionId.trim() === '' || positionId.length > 128) {
    throw onboardingInput('position_invalid', '岗位无效 / position is invalid');
  }
  if (!Array.isArray(materials) || materials.length === 0 || materials.length > 30) {
    throw onboardingInput('materials_invalid', '材料清单需 1–30 项 / 1 to 30 materials');
  }
  const list = materials.map(material);
  if (new Set(list).size !== list.length) throw onboardingInput('materials_duplicate', '材料清单有重复项 / duplicate material');
  await db.query(
    `INSERT INTO onboarding_requirements (corp_id, position_id, materials, updated_by, updated_at)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (corp_id, position_id) DO UPDATE SET materials = $3, updated_by = $4, updated_at = $5`,
    [corpId, positionId.trim(), list, member(actor), new Date(now())],
  );
  return list;
}

export interface MaterialsView {
  offerId: string;
  candidateId: string;
  positionId: string;
  offerState: string;
  /** The offer's start date (`YYYY-MM-DD`, Asia/Shanghai), from its current version. */
  startDate: string;
  /** The member who drafted the offer: the recruiter. */
  recruiter: string;
  required: string[];
  received: { material: string; receivedBy: string; receivedAt: Date }[];
  /** Required and not received, in the checklist's order. */
  missing: string[];
}

interface OfferFacts {
  state: string;
  candidate_id: string;
  position_id: string;
  created_by: string;
  start_date: string;
}

async function offerFacts(db: Q, corpId: string, offerId: string, lock: boolean): Promise<OfferFacts | null> {
  const { rows } = await db.query<OfferFacts>(
    `SELECT o.state, o.candidate_id, o.position_id, o.created_by, v.content->>'start_date' AS start_date
       FROM offers o JOIN offer_versions v ON v.offer_id = o.id AND v.version = o.current_version
      WHERE o.corp_id = $1 AND o.id = $2${lock ? ' FOR SHARE OF o' : ''}`,
    [corpId, offerId],
  );
  return rows[0] ?? null;
}

async function view(db: Q, corpId: string, offerId: string, o: OfferFacts): Promise<MaterialsView> {
  const required = await requiredMaterials(db, corpId, o.position_id);
  const { rows } = await db.query<{ material: string; received_by: string; received_at: Date }>(
    'SELECT material, received_by, received_at FROM onboarding_materials WHERE corp_id = $1 AND offer_id = $2 ORDER BY received_at, material',
    [corpId, offerId],
  );
  const have = new Set(rows.map((r) => r.material));
  return {
    offerId,
    candidateId: o.candidate_id,
    positionId: o.position_id,
    offerState: o.state,
    startDate: o.start_date,
    recruiter: o.created_by,
    required,
    received: rows.map((r) => ({ material: r.material, receivedBy: r.received_by, receivedAt: r.received_at })),
    missing: required.filter((m) => !have.has(m)),
  };
}

/** An offer's checklist now, or null when the offer does not exist in the corp. */
export async function materialsOf(db: Q, corpId: string, offerId: string): Promise<MaterialsView | null> {
  const o = await offerFacts(db, corpId, offerId, false);
  return o ? view(db, corpId, offerId, o) : null;
}

export interface MarkResult {
  /** False when it was marked before (nothing written, no second record). */
  recorded: boolean;
  view: MaterialsView;
}

/**
 * The recruiter marks one required material received for an accepted (or onboarded) offer: the
 * row and its `onboarding.material_received` record (with what is still missing, and `complete`)
 * commit together. Marking it again changes and records nothing. Refused (OnboardingError, nothing
 * written): an empty or unknown material (400), no such offer (404), an offer not accepted (409).
 */
export async function markReceived(
  deps: { transact: Transact; now?: () => number },
  args: { corpId: string; offerId: string; material: string; actor: string; note?: string },
): Promise<MarkResult> {
  const name = material(args.material);
  const actor = member(args.actor);
  const note = typeof args.note === 'string' ? args.note.trim() : '';
  if (note.length > 500) throw onboardingInput('note_too_long', '备注最长 500 字 / note too long');
  const { result } = await deps.transact<MarkResult>(async (tx) => {
    const o = await offerFacts(tx, args.corpId, args.offerId, true);
    if (!o) throw offerNotFound();
    if (!COLLECTING.has(o.state)) throw offerNotAccepted(o.state);
    const required = await requiredMaterials(tx, args.corpId, o.position_id);
    if (!required.includes(name)) {
      throw onboardingInput('material_not_required', `该岗位的入职材料清单中没有「${name}」/ not on this position's checklist`);
    }
    const at = new Date((deps.now ?? Date.now)());
    const { rowCount } = await tx.query(
      `INSERT INTO onboarding_materials (corp_id, offer_id, material, received_by, received_at, note)
       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (offer_id, material) DO NOTHING`,
      [args.corpId, args.offerId, name, actor, at, note],
    );
    const v = await view(tx, args.corpId, args.offerId, o);
    if (rowCount === 0) return { result: { recorded: false, view: v }, entries: [] };
    const key = createHash('sha256').update(name, 'utf8').digest('hex').slice(0, 32);
    return {
      result: { recorded: true, view: v },
      entries: [
        {
          stream: ONBOARDING_STREAMS.candidate(o.candidate_id),
          kind: ONBOARDING_KINDS.materialReceived,
          occurredAt: at,
          actor,
          source: ONBOARDING_SOURCE,
          sourceRef: ONBOARDING_SOURCE_REFS.materialReceived(args.offerId, key),
          payload: {
            offer_id: args.offerId,
            candidate_id: o.candidate_id,
            position_id: o.position_id,
            material: name,
            received_by: actor,
            note,
            required: v.required,
            missing: v.missing,
            complete: v.missing.length === 0,
          },
          raw: null,
        },
      ],
    };
  });
  return result;
}
