import type { CallbackKeys } from '../../sandbox/callbacks';
import { DEMO_AGENT_ID, DEMO_CORP_ID } from '../../sandbox/seed';

/**
 * Every WeCom credential the tests and benchmarks use, in one place. Loaded by child processes
 * too (test/wecom-api/support/token-process.ts), so it imports nothing but plain data.
 */

export interface TestCorpKeys extends CallbackKeys {
  agentId: string | number;
  secret: string;
}

/**
 * The corp the app under test is configured for (testEnv, so startApp, spawnApi, the worker
 * processes and the bench). Deliberately not the sandbox's demo corp: a test of the app cannot
 * pass by reading the sandbox's seed.
 */
export const TEST_KEYS = {
  corpId: 'wwhireledgertest01',
  agentId: '1000002',
  secret: 'test-secret',
  token: 'HireLedgerTestToken',
  encodingAESKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
} as const satisfies TestCorpKeys;

/**
 * Another valid EncodingAESKey: the previous key while an admin rotates it
 * (WECOM_ENCODING_AES_KEY_PREVIOUS), or simply a key that is not the app's.
 */
export const OTHER_AES_KEY = 'ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut';

/**
 * The sandbox's seeded corp (sandbox/seed.ts), for tests that run a sandbox of their own rather
 * than one pointed at the app: the sandbox's own tests, the WeCom API client tests and the
 * checkpoint flow. Seeded data (webhooks, groups, approvals) belongs to this corp.
 */
export const SANDBOX_KEYS = {
  corpId: DEMO_CORP_ID,
  agentId: DEMO_AGENT_ID,
  secret: 'HireLedgerSandboxTestSecret01',
  token: 'SandboxTestToken',
  encodingAESKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
} as const satisfies TestCorpKeys;
