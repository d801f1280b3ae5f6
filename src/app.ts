import { existsSync } from 'node:fs';
import fastifyStatic from '@fastify/static';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Pool } from 'pg';
import type { Config } from './config/env';
import { checkpointOrigin, createLedger, latestCheckpoint, type Ledger } from './evidence';
import type { QueueSet } from './jobs/queues';
import { combineModules } from './jobs/registry';
import { archiveChannelHealth } from './conversations';
import { checkHealth } from './observability/health';
import type { Logger } from './observability/logger';
import { createMetrics, type Metrics } from './observability/metrics';
import type { HireLedgerModule } from './platform/module';
import { callbackRoutes } from './wecom/callback-route';
import { createExternalContactIds } from './wecom/external-contacts';

export interface AppDeps {
  config: Config;
  pool: Pool;
  redis: Redis;
  queues: QueueSet;
  logger: Logger;
  /** Built H5 frontend to serve at /h5/ (skipped when absent). */
  h5Dir?: string;
  /** The modules of src/modules.ts: their routes are registered here (none: the app without domains). */
  modules?: readonly HireLedgerModule[];
  /** Injected in tests that move the clock; defaults to Date.now. */
  now?: () => number;
}

export interface App {
  server: FastifyInstance;
  ledger: Ledger;
  metrics: Metrics;
  /** Stops accepting requests, lets in-flight ones finish, then flushes the ledger. */
  close(): Promise<void>;
}

/** Builds the HTTP app from its dependencies; main.ts and the tests are thin callers of this. */
export async function buildApp(deps: AppDeps): Promise<App> {
  const { config } = deps;
  // The same wiring checks as the worker's: a conflict between modules stops the API too.
  const modules = combineModules(deps.modules ?? []);
  const metrics = createMetrics();
  const ledger = createLedger({
    pool: deps.pool,
    batchMax: config.EVIDENCE_BATCH_MAX,
    onBatch: (size, ms) => {
      metrics.evidenceBatchSize.observe(size);
      metrics.evidenceBatchDuration.observe(ms / 1000);
    },
  });

  const server = Fastify({
    loggerInstance: deps.logger,
    // Slow-loris and smuggling defences (RELIABILITY B14/B15): bounded header and request time,
    // no body larger than the biggest legitimate callback anywhere.
    bodyLimit: config.CALLBACK_BODY_LIMIT_BYTES,
    requestTimeout: 10_000,
    connectionTimeout: 15_000,
    keepAliveTimeout: 5_000,
    return503OnClosing: true,
    // Each route logs what matters itself; per-request access lines would cost more than the work.
    logController: new LogController({ disableRequestLogging: true }),
    // Only the proxies named in TRUST_PROXY may say who the client is (X-Forwarded-For).
    trustProxy:
      typeof config.TRUST_PROXY === 'number'
        ? (
            (hops: number) => (_address: string, hop: number) =>
              hop < hops
          )(config.TRUST_PROXY)
        : config.TRUST_PROXY,
    // Node checks these timeouts every connectionsCheckingInterval (30 s by default), which would
    // let a slow-loris client hold a socket for half a minute.
    http: { headersTimeout: 5_000, connectionsCheckingInterval: 1_000 },
  });

  await server.register(async (scope) =>
    callbackRoutes(scope, {
      settings: {
        corpId: config.WECOM_CORP_ID,
        token: config.WECOM_TOKEN,
        encodingAesKey: config.WECOM_ENCODING_AES_KEY,
        agentId: config.WECOM_AGENT_ID,
        previousEncodingAesKey: config.WECOM_ENCODING_AES_KEY_PREVIOUS,
        maxSkewSeconds: config.WECOM_CALLBACK_MAX_SKEW_SECONDS,
        bodyLimitBytes: config.CALLBACK_BODY_LIMIT_BYTES,
        storeTimeoutMs: config.CALLBACK_STORE_TIMEOUT_MS,
      },
      ledger,
      externalContacts: createExternalContactIds(deps.pool),
      metrics,
      ...(deps.now ? { now: deps.now } : {}),
    }),
  );

  // Each module's routes in a scope of their own (their hooks and error handlers stay theirs).
  for (const { routes } of modules.routes) await server.register(routes);

  server.get('/health', async (_req, reply) => {
    const report = await checkHealth({ ...deps, channels: { archive: () => archiveChannelHealth(deps.config, deps.pool) } });
    return reply.code(report.status === 'ok' ? 200 : 503).send(report);
  });

  // The H5 mini-frontend, when built (wecom-h5/dist). Pages and their APIs come with the H5 issue.
  if (deps.h5Dir && existsSync(deps.h5Dir)) {
    await server.register(fastifyStatic, {
      root: deps.h5Dir,
      prefix: '/h5/',
      setHeaders: (res) => {
        res.setHeader('X-Content-Type-Options', 'nosniff');
        res.setHeader('Referrer-Policy', 'no-referrer');
        res.setHeader(
          'Content-Security-Policy',
          "default-src 'self'; frame-ancestors 'self'; object-src 'none'; base-uri 'self'",
        );
      },
    });
  }

  // The newest signed checkpoint of this corp's ledger, for anyone to keep a copy (a copy held
  // elsewhere is what later proves the ledger was not rewritten). Public: it holds a tree size and
  // a root hash, nothing about anyone.
  const origin = checkpointOrigin(config.WECOM_CORP_ID);
  server.get('/evidence/checkpoint', async (_req, reply) => {
    const latest = await latestCheckpoint(deps.pool, origin, config.EVIDENCE_VERIFIER_KEY);
    if (!latest) return reply.code(404).send({ error: 'no_checkpoint', message: '尚未生成存证检查点' });
    return reply
      .type('text/plain; charset=utf-8')
      .header('Cache-Control', 'no-cache')
      .header('Last-Modified', latest.createdAt.toUTCString())
      .send(latest.note);
  });

  server.get('/metrics', async (_req, reply) => {
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  let closing: Promise<void> | undefined;
  return {
    server,
    ledger,
    metrics,
    close() {
      closing ??= (async () => {
        await server.close();
        await ledger.close();
      })();
      return closing;
    },
  };
}
