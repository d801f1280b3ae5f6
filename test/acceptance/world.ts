import type { Pool } from 'pg';
import { createAcceptanceModule, type AcceptanceModule } from '../../src/acceptance';
import { createCandidateByRecruiter, savePosition } from '../../src/candidates';
import { createLedger, type Ledger } from '../../src/evidence';
import { createOffersModule, hrbpsFromList, type OfferTerms, type OffersModule } from '../../src/offers';
import { startApp, type RunningApp } from '../support/app';

/**
 * The real app (PostgreSQL, Redis, HTTP) with the offers module and the acceptance module's routes,
 * both on the app's least-privileged pool, every query of both counted (so a test can show that a
 * forged token made none), and one clock both share.
 */

export const HMAC_KEY = 'acceptance-test-identifier-key-0123456789';
export const RECRUITER = 'zhangmin';
let phones = 0;
/** A mainland mobile number of its own per candidate (one phone is one person: the same number would merge them). */
export function newPhone(): string {
  phones += 1;
  return `138${String(process.pid % 10000).padStart(4, '0')}${String(phones).padStart(4, '0')}`;
}

export const TERMS: OfferTerms = {
  baseMonthlyYuan: 30000,
  salaryMonths: 13,
  annualBonusTargetYuan: 60000,
  bonusNote: '按季度绩效发放',
  level: 'P6',
  department: '基础架构部',
  location: '上海',
  startDate: '2099-01-05',
  probationMonths: 3,
  acceptanceDeadline: null,
  terms: '入职需提供离职证明',
};

export interface World {
  app: RunningApp;
  ledger: Ledger;
  offers: OffersModule;
  acceptance: AcceptanceModule;
  corpId: string;
  clock: { now: number | null };
  /** Queries and transactions the two modules made so far. */
  queries: () => number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies read as any and checked with expect
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers }>;
  stop(): Promise<void>;
}

export async function startWorld(
  opts: { failureLimit?: { limit: number; windowMs: number }; env?: Record<string, string | undefined> } = {},
): Promise<World> {
  let queries = 0;
  const clock: { now: number | null } = { now: null };
  const now = () => clock.now ?? Date.now();
  let ledger: Ledger | undefined;
  let offers: OffersModule | undefined;
  let acceptance: AcceptanceModule | undefined;
  const app = await startApp(
    { CANDIDATE_IDENTIFIER_HMAC_KEY: HMAC_KEY, ...opts.env },
    {
      modules: ({ pool, redis, config }) => {
        const l = createLedger({ pool });
        ledger = l;
        const db = { query: ((...args: Parameters<Pool['query']>) => (queries++, pool.query(...args))) as Pool['query'] };
        const transact: Ledger['transact'] = (work) => (queries++, l.transact(work));
        offers = createOffersModule({ db, transact, isHrbp: hrbpsFromList(['hrbp1']), now });
        acceptance = createAcceptanceModule({
          db,
          transact,
          offers: offers.offers,
          config,
          redis,
          failureLimit: opts.failureLimit ?? { limit: 1000, windowMs: 60_000 },
          companyName: '示例科技有限公司',
          now,
        });
        return [offers, acceptance];
      },
    },
  );
  await savePosition(app.db.appPool, app.config.WECOM_CORP_ID, { id: 'be-1', title: '后端工程师', department: '基础架构部' });
  return {
    app,
    ledger: ledger!,
    offers: offers!,
    acceptance: acceptance!,
    corpId: app.config.WECOM_CORP_ID,
    clock,
    queries: () => queries,
    async post(path, body, headers = {}) {
      const res = await fetch(`${app.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'Mozilla/5.0 (iPhone) MicroMessenger/8.0 test', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON: kept as text for the assertion to show
      }
      return { status: res.status, body: parsed, headers: res.headers };
    },
    async stop() {
      await app.stop();
      await ledger?.close();
    },
  };
}

/** A candidate (with the phone the recruiter recorded) holding a sent formal offer, and a link to it. */
export async function sentOfferWithLink(w: World, opts: { deadline?: Date | null; phone?: string | null; key?: string } = {}) {
  const transact = w.ledger.transact.bind(w.ledger);
  const phone = opts.phone === undefined ? newPhone() : opts.phone;
  const { candidate } = await createCandidateByRecruiter(
    { transact, hmacKey: HMAC_KEY },
    {
      corpId: w.corpId,
      recruiter: RECRUITER,
      ...(phone ? { identifiers: [{ kind: 'phone' as const, value: phone, consentBasis: 'contract_necessity' as const }] } : {}),
    },
  );
  const o = await w.offers.offers.draftOffer({
    corpId: w.corpId,
    candidateId: candidate.candidateId,
    positionId: 'be-1',
    actor: RECRUITER,
    terms: { ...TERMS, acceptanceDeadline: opts.deadline ?? null },
  });
  const v = { corpId: w.corpId, offerId: o.offerId, version: 1, contentSha256: o.versions[0]!.contentSha256 };
  await w.offers.offers.submitForApproval({ ...v, actor: RECRUITER });
  await w.offers.offers.recordApprovalOutcome(v, `sp-${o.offerId}`, 'approved');
  await w.offers.offers.sendFormalOffer({ ...v, actor: RECRUITER });
  const link = await w.acceptance.links.issue({
    ...v,
    candidateId: candidate.candidateId,
    expiresAt: new Date(Date.now() + 7 * 24 * 3600_000),
    key: opts.key ?? 'sent-seq-1',
  });
  return { ...v, candidateId: candidate.candidateId, link, token: tokenOf(link.url), phone: phone ?? newPhone() };
}

export function tokenOf(url: string): string {
  const m = /#t=([A-Za-z0-9_-]+)$/.exec(url);
  if (!m?.[1]) throw new Error(`no token in ${url}`);
  return m[1];
}
