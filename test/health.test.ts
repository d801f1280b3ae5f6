import type { HealthReport } from '../src/observability/health';
import { startApp, type RunningApp } from './support/app';

describe('GET /health', () => {
  let app: RunningApp;
  beforeAll(async () => {
    app = await startApp();
  });
  afterAll(() => app.stop());

  test('200 when PostgreSQL, Redis and the queues answer', async () => {
    const res = await fetch(`${app.url}/health`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as HealthReport;
    expect(body.status).toBe('ok');
    expect(Object.keys(body.checks).sort()).toEqual([
      'postgres',
      'queue:evidence-checkpoints',
      'queue:ledger-consumers',
      'queue:module-jobs',
      'redis',
    ]);
  });

  test('503 naming PostgreSQL when it does not answer (a real pool pointed at a closed port)', async () => {
    const { Pool } = await import('pg');
    const { buildApp } = await import('../src/app');
    const { createLogger } = await import('../src/observability/logger');
    const dead = new Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/none', connectionTimeoutMillis: 500 });
    dead.on('error', () => undefined);
    const broken = await buildApp({ ...app, pool: dead, logger: createLogger('silent', 't'), config: app.config });
    try {
      const url = await broken.server.listen({ host: '127.0.0.1', port: 0 });
      const res = await fetch(`${url}/health`);
      expect(res.status).toBe(503);
      const body = (await res.json()) as HealthReport;
      expect(body.status).toBe('degraded');
      expect(body.checks['postgres']?.ok).toBe(false);
      expect(body.checks['postgres']?.detail).toMatch(/ECONNREFUSED|connect/);
      expect(body.checks['redis']?.ok).toBe(true);
    } finally {
      await broken.close();
      await dead.end();
    }
  });

  test('/metrics exposes the callback rejection counter', async () => {
    await fetch(`${app.url}/wecom/callback?timestamp=1`, {
      method: 'POST',
      body: '<xml/>',
      headers: { 'content-type': 'text/xml' },
    });
    const text = await (await fetch(`${app.url}/metrics`)).text();
    expect(text).toMatch(/hireledger_wecom_callback_rejections_total\{reason="missing_param"\} 1/);
  });
});
