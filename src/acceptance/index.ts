/**
 * The acceptance module: signed, expiring, single-use links to the candidate's H5 acceptance page,
 * and the page's API (view, accept, decline) with no WeCom login. Accepting and declining go
 * through the offers module's own transitions, the link consumed in the same transaction. Other
 * domains reach it only through this file (ARCHITECTURE.md, "Dependency rules");
 * docs/acceptance.md explains the token, the states and the refusals.
 */

import type { Redis } from 'ioredis';
import type { Pool } from 'pg';
import { Counter, Registry } from 'prom-client';
import type { Config } from '../config/env';
import type { Offers } from '../offers';
import type { HireLedgerModule } from '../platform/module';
import { createOfferLinks, type OfferLinks, type OfferLinksDeps } from './links';
import { ACCEPTANCE_MODULE } from './names';
import { DEFAULT_FAILURE_LIMIT, redisFailureLimiter } from './rate-limit';
import { acceptanceRoutes } from './routes';

export interface AcceptanceDeps {
  db: Pick<Pool, 'query'>;
  /** The ledger's decision path (`ledger.transact`). */
  transact: OfferLinksDeps['transact'];
  /** The offers module's domain functions: the page shows a version and answers through them. */
  offers: Pick<Offers, 'getOffer' | 'recordAcceptance' | 'recordDecline'>;
  config: Pick<
    Config,
    'WECOM_CORP_ID' | 'OFFER_LINK_SECRET' | 'PUBLIC_BASE_URL' | 'CANDIDATE_IDENTIFIER_HMAC_KEY' | 'QUEUE_PREFIX'
  >;
  /** The API's Redis: failed attempts are counted there per IP. Needed by the routes only (the worker issues links). */
  redis?: Pick<Redis, 'incr' | 'decr' | 'pexpire' | 'pttl'>;
  /** Failed attempts allowed per IP and window (default 20 per 15 minutes). */
  failureLimit?: { limit: number; windowMs: number };
  /** Shown on the page above the terms when given. */
  companyName?: string;
  /** The process's metrics registry; a private one when absent. */
  registry?: Registry;
  now?: () => number;
}

export interface AcceptanceModule extends HireLedgerModule {
  /** Makes the links the delivery sends (src/acceptance/deliver.ts). */
  links: OfferLinks;
}

export function createAcceptanceModule(deps: AcceptanceDeps): AcceptanceModule {
  const now = deps.now ?? Date.now;
  const links = createOfferLinks({
    db: deps.db,
    transact: deps.transact,
    secret: deps.config.OFFER_LINK_SECRET,
    publicBaseUrl: deps.config.PUBLIC_BASE_URL,
    now,
  });
  const registry = deps.registry ?? new Registry();
  const refusals = new Counter({
    name: 'hireledger_offer_link_refusals_total',
    help: 'Requests of the offer acceptance page refused, by route and reason (link_invalid, link_expired, link_used, rate_limited, …)',
    labelNames: ['route', 'reason'] as const,
    registers: [registry],
  });
  return {
    name: ACCEPTANCE_MODULE,
    links: { issue: (args) => links.issue(args) },
    async routes(scope) {
      if (!deps.redis) throw new Error('the acceptance routes need Redis (failed attempts are rate-limited per IP): pass redis');
      const plugin = acceptanceRoutes({
        corpId: deps.config.WECOM_CORP_ID,
        db: deps.db,
        transact: deps.transact,
        links,
        offers: deps.offers,
        limiter: redisFailureLimiter(deps.redis, {
          keyPrefix: deps.config.QUEUE_PREFIX,
          corpId: deps.config.WECOM_CORP_ID,
          ...(deps.failureLimit ?? DEFAULT_FAILURE_LIMIT),
        }),
        identifierHmacKey: deps.config.CANDIDATE_IDENTIFIER_HMAC_KEY,
        companyName: deps.companyName ?? null,
        refusals,
        now: () => new Date(now()),
      });
      await plugin(scope, {});
    },
  };
}

export { candidateText, createOfferDelivery, type OfferDeliveryDeps } from './deliver';
export { LinkRefusal, OfferLinkConfigError, OfferLinkIssueError, type LinkRefusalCode } from './errors';
export { createOfferLinks, offerPageUrl, signToken, tokenSha256, verifyToken, type LinkClaims, type OfferLinks } from './links';
export { ACCEPTANCE_KINDS, ACCEPTANCE_MODULE, ACCEPTANCE_SOURCE, OFFER_LINK_ID, OFFER_PAGE_PATH } from './names';
export { BINDING_CLAUSE, SHOWN_TEXT_FORMAT, shownText, textSha256 } from './shown-text';
