import { Redis } from 'ioredis';
import { buildApp } from '../../src/app';
import { loadConfig } from '../../src/config/env';
import { combineModules, ModuleWiringError } from '../../src/jobs/registry';
import { createQueues } from '../../src/jobs/queues';
import { createModules } from '../../src/modules';
import { createLogger } from '../../src/observability/logger';
import type { CallbackHandlers, HireLedgerModule, LedgerConsumer } from '../../src/platform/module';
import { createTestDatabase } from '../support/db';
import { REDIS_URL, testEnv } from '../support/env';

/**
 * Modules are wired in one place (src/modules.ts) and checked at start-up: whatever two modules
 * claim at once, and a handler for a callback type HireLedger does not know, stop the process with
 * both modules named, not a debug line at run time.
 */

const noop = async () => undefined;
const consumer: LedgerConsumer = { accepts: () => false, handle: noop };

describe('module wiring', () => {
  test('the modules of src/modules.ts wire without conflict', () => {
    // Factories only wire: nothing is called while the modules are built.
    const modules = createModules({
      pool: {} as never,
      wecom: {
        contact: {} as never,
        kf: {} as never,
        media: {} as never,
        message: {} as never,
        msgTemplate: {} as never,
        oa: {} as never,
      },
      ledger: {} as never,
      jobsQueue: {} as never,
      config: {
        WECOM_CORP_ID: 'ww0000000000000000',
        MEDIA_STORE: 'pg',
        MEDIA_MAX_BYTES: 1024,
        MESSAGE_TEXT_MAX_BYTES: 1024,
        MSGAUDIT_PULL_INTERVAL_SECONDS: 300,
        REMINDERS_SWEEP_SECONDS: 30,
        REMINDERS_SENDING_STALE_SECONDS: 300,
        QUEUE_PREFIX: 'hireledger',
        LOG_LEVEL: 'silent',
      },
    });
    const combined = combineModules(modules);
    expect(Object.fromEntries(combined.callbackTypes)).toEqual({
      'event.enter_agent': 'members',
      'event.change_external_contact': 'candidates',
      'event.kf_msg_or_event': 'conversations',
    });
    expect(modules.map((m) => m.name)).toEqual([
      'members',
      'candidates',
      'conversations',
      'conversations-archive',
      'signals',
      'offers',
      'acceptance',
      'reminders',
    ]);
  });

  test('two modules handling one callback type: start-up refused, both named', () => {
    const a: HireLedgerModule = { name: 'offers', callbackHandlers: { 'event.sys_approval_change': noop } };
    const b: HireLedgerModule = { name: 'approvals', callbackHandlers: { 'event.sys_approval_change': noop } };
    expect(() => combineModules([a, b])).toThrow(
      new ModuleWiringError('callback type event.sys_approval_change has a handler in both module offers and module approvals'),
    );
  });

  test('a handler for a type HireLedger does not know does not compile, and is refused at start-up however it was built', () => {
    // @ts-expect-error 'event.teleport' is not a known callback type: the compiler refuses it.
    const literal: CallbackHandlers = { 'event.teleport': noop };
    expect(() => combineModules([{ name: 'offers', callbackHandlers: literal }])).toThrow(
      /module offers registers a handler for callback type "event\.teleport", which HireLedger does not know \(known: message\.text, /,
    );
    const built = Object.fromEntries([['message.txt', noop]]) as CallbackHandlers;
    expect(() => combineModules([{ name: 'offers', callbackHandlers: built }])).toThrow(ModuleWiringError);
  });

  test('two consumers or two jobs of one name: refused, both modules named', () => {
    expect(() =>
      combineModules([
        { name: 'offers', consumers: { 'shared.sweep': consumer } },
        { name: 'reminders', consumers: { 'shared.sweep': consumer } },
      ]),
    ).toThrow('ledger consumer "shared.sweep" is declared by both module offers and module reminders');
    expect(() =>
      combineModules([
        { name: 'offers', jobs: { 'shared.digest': { process: noop } } },
        { name: 'reminders', jobs: { 'shared.digest': { process: noop } } },
      ]),
    ).toThrow('job "shared.digest" is declared by both module offers and module reminders');
    // A consumer named like another module's typed handler is a conflict too.
    expect(() =>
      combineModules([
        { name: 'offers', callbackHandlers: { 'event.enter_agent': noop } },
        { name: 'members', consumers: { 'offers.on.event.enter_agent': consumer } },
      ]),
    ).toThrow('ledger consumer "offers.on.event.enter_agent" is declared by both module offers and module members');
  });

  test('two modules of one name, a bad name, a schedule faster than a second: refused', () => {
    expect(() => combineModules([{ name: 'offers' }, { name: 'offers' }])).toThrow('two modules are named offers');
    expect(() => combineModules([{ name: 'Offers' }])).toThrow('module name "Offers"');
    expect(() => combineModules([{ name: 'offers', consumers: { 'Bad Name': consumer } }])).toThrow('consumer name "Bad Name"');
    expect(() =>
      combineModules([{ name: 'offers', jobs: { 'offers.tick': { process: noop, schedule: { every: 10 } } } }]),
    ).toThrow('repeats every 10 ms');
  });

  test('the API refuses to start with conflicting modules, and serves each module its routes in its own scope', async () => {
    const db = await createTestDatabase();
    const config = loadConfig(testEnv({ DATABASE_URL: db.appUrl }));
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const queues = createQueues(redis, { prefix: config.QUEUE_PREFIX, corpId: config.WECOM_CORP_ID });
    const deps = { config, pool: db.appPool, redis, queues, logger: createLogger('silent', 'test') };
    try {
      const a: HireLedgerModule = { name: 'offers', callbackHandlers: { 'event.enter_agent': noop } };
      await expect(buildApp({ ...deps, modules: [a, { ...a, name: 'reminders' }] })).rejects.toThrow(ModuleWiringError);

      const app = await buildApp({
        ...deps,
        modules: [
          {
            name: 'offers',
            routes: async (scope) => {
              scope.get('/h5/offers/ping', async () => ({ module: 'offers' }));
            },
          },
        ],
      });
      try {
        const url = await app.server.listen({ host: '127.0.0.1', port: 0 });
        const res = await fetch(`${url}/h5/offers/ping`);
        expect(await res.json()).toEqual({ module: 'offers' });
      } finally {
        await app.close();
      }
    } finally {
      await queues.close();
      redis.disconnect();
      await db.drop();
    }
  });
});
