/**
 * The baseline of `npm run bench:ingest`: a bare Fastify route at POST /wecom/callback that reads
 * the body and answers 200 with an empty body, and does nothing else. Started by the benchmark as
 * its own process, with the API's environment, so it runs with what buildApp (src/app.ts) gives the
 * real route: the same pino logger at the same level, the same server options (body limit, timeouts,
 * no per-request log lines) and the body read as a Buffer by a catch-all content-type parser. Keep
 * the options below in step with src/app.ts. The difference between the two rates is then the
 * callback path's own work: query, signature, decryption, parsing, classification, hashing and the
 * durable append.
 */
import Fastify, { LogController } from 'fastify';
import { loadConfigOrExit } from '../src/config/env';
import { createLogger } from '../src/observability/logger';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger(config.LOG_LEVEL, 'hireledger-bare');
  const server = Fastify({
    loggerInstance: logger,
    bodyLimit: config.CALLBACK_BODY_LIMIT_BYTES,
    requestTimeout: 10_000,
    connectionTimeout: 15_000,
    keepAliveTimeout: 5_000,
    return503OnClosing: true,
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: false,
    http: { headersTimeout: 5_000, connectionsCheckingInterval: 1_000 },
  });
  await server.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: config.CALLBACK_BODY_LIMIT_BYTES }, (_req, body, done) =>
      done(null, body),
    );
    scope.post('/wecom/callback', async (req, reply) => {
      if (!Buffer.isBuffer(req.body)) return reply.code(400).send('');
      return reply.code(200).send('');
    });
  });
  server.get('/health', async () => ({ status: 'ok' }));
  await server.listen({ host: config.HOST, port: config.PORT });
  const stop = () => void server.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`bare server failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
