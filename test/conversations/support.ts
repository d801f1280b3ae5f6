import { Redis } from 'ioredis';
import type { Sandbox, SandboxOptions } from '../../sandbox/server';
import { createCandidateDirectory } from '../../src/candidates';
import { createConversationsModule, type ConversationsDeps, type ConversationsModule } from '../../src/conversations';
import { createLedger, createLedgerReader, type Ledger } from '../../src/evidence';
import type { JobContext } from '../../src/platform/module';
import { createLogger } from '../../src/observability/logger';
import { createWecomClient, type WecomClient } from '../../src/wecom/api';
import { createExternalContactIds } from '../../src/wecom/external-contacts';
import { startApp, startSandboxFor, type RunningApp } from '../support/app';
import { REDIS_URL } from '../support/env';

/** One KF test's world: the app, the sandbox as its WeCom, the real WeCom client, a ledger for the module. */
export interface KfWorld {
  app: RunningApp;
  sandbox: Sandbox;
  redis: Redis;
  ledger: Ledger;
  wecom: WecomClient;
  module(overrides?: Partial<ConversationsDeps>): ConversationsModule;
  records(where?: string, params?: unknown[]): Promise<Row[]>;
  /** The sandbox's JSON answer, as parsed (checked by expect). */
  admin(path: string, body?: unknown, method?: string): ReturnType<Response['json']>;
  /** A JobContext for running the sweep's `process` directly. */
  jobContext(): JobContext;
  close(): Promise<void>;
}

export interface Row {
  seq: number;
  stream: string;
  kind: string;
  actor: string;
  source: string;
  source_ref: string;
  occurred_at: Date;
  /** The stored JSON as parsed (checked by expect). */
  payload: ReturnType<typeof JSON.parse>;
  hash: string;
}

export const KF = 'wkHireLedger01';

export async function startKfWorld(sandboxOptions: Partial<SandboxOptions> = {}): Promise<KfWorld> {
  const app = await startApp();
  const sandbox = await startSandboxFor(app, sandboxOptions);
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const ledger = createLedger({ pool: app.db.appPool });
  const wecom = createWecomClient({
    apiBase: sandbox.url,
    corpId: app.keys.corpId,
    secret: app.config.WECOM_SECRET,
    agentId: app.config.WECOM_AGENT_ID,
    redis,
    logger: createLogger(process.env['TEST_LOG_LEVEL'] ?? 'silent', 't'),
    ledger,
    reader: createLedgerReader(app.db.appPool),
    externalContacts: createExternalContactIds(app.db.appPool),
    // A busy answer (-1) reaches the job policy at once instead of being retried inside the client.
    options: { keyPrefix: `${app.config.QUEUE_PREFIX}:wecom:`, busyRetries: 0 },
  });
  return {
    app,
    sandbox,
    redis,
    ledger,
    wecom,
    module: (overrides = {}) =>
      createConversationsModule({
        pool: app.db.appPool,
        ledger,
        wecom,
        directory: createCandidateDirectory(app.db.appPool),
        media: { kind: 'pg', maxBytes: 1024 * 1024 },
        textMaxBytes: 4096,
        ...overrides,
      }),
    async records(where = 'true', params = []) {
      const { rows } = await app.db.pool.query<Row>(
        `SELECT seq::int AS seq, stream, kind, actor, source, source_ref, occurred_at, payload, hash
           FROM evidence_records WHERE ${where} ORDER BY seq`,
        params,
      );
      return rows;
    },
    async admin(path, body = {}, method = 'POST') {
      const res = await fetch(`${sandbox.url}/sandbox/admin/${path}`, {
        method,
        headers: method === 'GET' || method === 'DELETE' ? {} : { 'content-type': 'application/json' },
        ...(method === 'GET' || method === 'DELETE' ? {} : { body: JSON.stringify(body) }),
      });
      const json = await res.json();
      if (!res.ok) throw new Error(`sandbox admin ${path}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    },
    jobContext: () => ({
      corpId: app.keys.corpId,
      log: createLogger('silent', 'sweep'),
      reader: createLedgerReader(app.db.appPool),
      transact: (work) => ledger.transact(work),
      attempt: 1,
    }),
    async close() {
      await ledger.close();
      redis.disconnect();
      await sandbox.close();
      await app.stop();
    },
  };
}

/** The candidate id of an external_userid, as the directory knows it. */
export async function candidateOf(world: KfWorld, externalUserId: string): Promise<string> {
  const c = await createCandidateDirectory(world.app.db.appPool).find(world.app.keys.corpId, externalUserId);
  if (!c) throw new Error(`no candidate for ${externalUserId}`);
  return c.candidateId;
}
