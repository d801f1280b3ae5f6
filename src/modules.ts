import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Pool } from 'pg';
import { createAcceptanceModule, createOfferDelivery } from './acceptance';
import { createApprovalsModule, hrbpsFromAssignments, parseOfferControls } from './approvals';
import type { Registry } from 'prom-client';
import { createCandidateDirectory, createCandidatesModule } from './candidates';
import type { Config } from './config/env';
import { createArchiveChannel, createConversationsModule, createRouteFacts } from './conversations';
import { createLedgerReader, type Ledger } from './evidence';
import { createMembersModule } from './members';
import { createOffersModule, type DeliverOffer } from './offers';
import { createLogger } from './observability/logger';
import type { HireLedgerModule } from './platform/module';
import { bullmqTriggers, createRemindersModule, routesFromFacts } from './reminders';
import { createSignalsModule, recruiterFromDirectory } from './signals';
import type { WecomClient } from './wecom/api';

/**
 * Every domain module, in one list: the API registers their routes, the worker their callback
 * handlers, ledger consumers and jobs (ARCHITECTURE.md, "Modules"). Adding a domain is one line
 * here. Both processes refuse to start when two modules claim the same callback type, consumer or
 * job (src/jobs/registry.ts).
 */

/** What the factories may take from. Each takes only the part it needs. */
export interface ModuleDeps {
  pool: Pool;
  wecom: Pick<WecomClient, 'contact' | 'kf' | 'media' | 'message' | 'msgTemplate' | 'oa'>;
  /** The ledger's decision path, for work of several decisions per record (a KF pull commits page by page). */
  ledger: Pick<Ledger, 'transact'>;
  config: Pick<
    Config,
    | 'WECOM_CORP_ID'
    | 'LOG_LEVEL'
    | 'MEDIA_STORE'
    | 'MEDIA_DIR'
    | 'MEDIA_MAX_BYTES'
    | 'MESSAGE_TEXT_MAX_BYTES'
    | 'MSGAUDIT_SDK_LIBRARY'
    | 'MSGAUDIT_SECRET'
    | 'MSGAUDIT_PRIVATE_KEYS'
    | 'MSGAUDIT_PROXY'
    | 'MSGAUDIT_PROXY_PASSWORD'
    | 'MSGAUDIT_PULL_INTERVAL_SECONDS'
    | 'WECOM_OFFER_TEMPLATE_ID'
    | 'WECOM_OFFER_CONTROLS'
    | 'REMINDERS_SWEEP_SECONDS'
    | 'REMINDERS_SENDING_STALE_SECONDS'
    | 'OFFER_LINK_SECRET'
    | 'PUBLIC_BASE_URL'
    | 'FEEDBACK_FORM_URL'
    | 'CANDIDATE_IDENTIFIER_HMAC_KEY'
    | 'QUEUE_PREFIX'
  >;
  /** The corp's jobs queue (QUEUES.jobs): where reminder triggers wait as delayed jobs. */
  jobsQueue: Pick<Queue, 'add' | 'getJob'>;
  /** The API's Redis: the acceptance page counts refused links per IP in it (the worker passes none). */
  redis?: Pick<Redis, 'incr' | 'decr' | 'pexpire' | 'pttl'>;
  /** The process's metrics registry; modules keep private ones when absent. */
  registry?: Registry;
}

export function createModules(deps: ModuleDeps): HireLedgerModule[] {
  // One directory for every module that finds candidates: the same rules, the same locks.
  const candidates = createCandidateDirectory(deps.pool);
  const conversations = createConversationsModule({
    pool: deps.pool,
    ledger: deps.ledger,
    wecom: deps.wecom,
    directory: candidates,
    media: {
      kind: deps.config.MEDIA_STORE,
      maxBytes: deps.config.MEDIA_MAX_BYTES,
      ...(deps.config.MEDIA_DIR ? { dir: deps.config.MEDIA_DIR } : {}),
    },
    textMaxBytes: deps.config.MESSAGE_TEXT_MAX_BYTES,
    ...(deps.registry ? { registry: deps.registry } : {}),
  });
  // The chat archive (会话内容存档): a module of its own, contributing nothing while MSGAUDIT_SDK_LIBRARY is unset.
  const archive = createArchiveChannel({
    config: deps.config,
    db: deps.pool,
    ledger: deps.ledger,
    directory: candidates,
    metrics: conversations.metrics,
    mediaStore: conversations.mediaStore,
  });
  // What is open towards a candidate right now (KF window, a recruiter's contact): DECISIONS 12.
  const routeFacts = createRouteFacts({ db: deps.pool, reader: createLedgerReader(deps.pool) });
  // The delivery needs the acceptance module's links, which need the offers: bound once both exist.
  const late: { deliver?: DeliverOffer } = {};
  const offers = createOffersModule({
    db: deps.pool,
    transact: (work) => deps.ledger.transact(work),
    // HRBPs are the approvals module's role holders (none shipped: until a corp assigns one, no rescind can be approved).
    isHrbp: hrbpsFromAssignments(deps.pool),
    // Every sent offer goes to the candidate as a link to the acceptance page, by the open route.
    deliver: (delivery) => {
      if (!late.deliver) throw new Error('offer delivery used before the modules were wired');
      return late.deliver(delivery);
    },
  });
  // The candidate's acceptance page and the signed, single-use links to it.
  const acceptance = createAcceptanceModule({
    db: deps.pool,
    transact: (work) => deps.ledger.transact(work),
    offers: offers.offers,
    config: deps.config,
    ...(deps.redis ? { redis: deps.redis } : {}),
    ...(deps.registry ? { registry: deps.registry } : {}),
  });
  late.deliver = createOfferDelivery({
    links: acceptance.links,
    facts: routeFacts,
    wecom: deps.wecom,
    transact: (work) => deps.ledger.transact(work),
    reader: createLedgerReader(deps.pool),
    logger: createLogger(deps.config.LOG_LEVEL, 'offer-delivery'),
  });
  const feedbackForm = deps.config.FEEDBACK_FORM_URL;
  // Reminders are rows in PostgreSQL; a delayed job is only their trigger, and a sweeper re-arms lost ones.
  const reminders = createRemindersModule({
    db: deps.pool,
    transact: (work) => deps.ledger.transact(work),
    messages: deps.wecom.message,
    triggers: bullmqTriggers(deps.jobsQueue),
    expireOffer: (ref) => offers.offers.expireOffer(ref),
    sweepIntervalMs: deps.config.REMINDERS_SWEEP_SECONDS * 1000,
    sendingStaleMs: deps.config.REMINDERS_SENDING_STALE_SECONDS * 1000,
    routes: routesFromFacts(routeFacts),
    // Candidate reminders by KF, else 企业群发, else the recruiter's task (DECISIONS 12), each attempt recorded.
    candidateChannel: { facts: routeFacts, kf: deps.wecom.kf, msgTemplate: deps.wecom.msgTemplate },
    // The one-week questionnaire is a form HR runs (FEEDBACK_FORM_URL); none configured, no reminder.
    ...(feedbackForm ? { feedbackUrl: ({ offerId }: { offerId: string }) => feedbackLink(feedbackForm, offerId) } : {}),
  });
  // Offers go to WeCom approval once the offer template is configured (its id and control ids).
  const { WECOM_OFFER_TEMPLATE_ID: templateId, WECOM_OFFER_CONTROLS: controls } = deps.config;
  if (Boolean(templateId) !== Boolean(controls)) {
    throw new Error('WECOM_OFFER_TEMPLATE_ID and WECOM_OFFER_CONTROLS are set together or not at all');
  }
  const approvals =
    templateId && controls
      ? createApprovalsModule({
          db: deps.pool,
          transact: (work) => deps.ledger.transact(work),
          offers: offers.offers,
          oa: deps.wecom.oa,
          templateId,
          controls: parseOfferControls(controls),
        })
      : null;
  return [
    createMembersModule({ db: deps.pool, directory: deps.wecom.contact }),
    createCandidatesModule({ db: deps.pool, contacts: deps.wecom.contact }),
    conversations,
    archive.module,
    createSignalsModule({
      db: deps.pool,
      messages: deps.wecom.message,
      recruiterOf: recruiterFromDirectory(candidates),
      // Resignation and over-promise are judged against the candidate's offers (none approved: every message).
      offerStatus: (corpId, candidateId) => offers.offers.offerStatusOf(corpId, candidateId),
      // A candidate whose offer ended and who appears again brings their history (re-application).
      offerStates: (corpId, candidateId) => offers.offers.listOffers(corpId, candidateId),
    }),
    offers,
    acceptance,
    reminders,
    ...(approvals ? [approvals] : []),
  ];
}

/** The feedback form's address for one offer: the configured URL with `offer=<id>` added to its query. */
export function feedbackLink(form: string, offerId: string): string {
  const url = new URL(form);
  url.searchParams.set('offer', offerId);
  return url.toString();
}
