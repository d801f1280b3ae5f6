import type { FastifyPluginAsync } from 'fastify';
import type { CallbackHandler, HireLedgerModule, JobDefinition, LedgerConsumer } from '../platform/module';
import { CALLBACK_TYPES, isCallbackType, type CallbackType } from '../wecom/callbacks';
import { callbackConsumer } from './callback-consumers';
import { callbackConsumerName, isValidWorkName } from './names';

/**
 * Combines the modules of src/modules.ts into what the processes run, and refuses, at start-up and
 * with both modules named, anything two modules claim at once or that cannot be wired: a callback
 * type with two handlers, a handler for a type HireLedger does not know, two consumers or two jobs
 * of one name. The compiler already refuses an unknown callback type in an object literal; this is
 * the check that holds however the module was built.
 */

export class ModuleWiringError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModuleWiringError';
  }
}

export interface CombinedModules {
  /** Consumer name → consumer, typed callback handlers included (as `<module>.on.<type>`). */
  consumers: Map<string, { module: string; consumer: LedgerConsumer }>;
  jobs: Map<string, { module: string; job: JobDefinition }>;
  routes: { module: string; routes: FastifyPluginAsync }[];
  /** Callback type → the module handling it. */
  callbackTypes: Map<CallbackType, string>;
}

const MODULE_NAME = /^[a-z][a-z0-9-]{0,31}$/;

export function combineModules(modules: readonly HireLedgerModule[]): CombinedModules {
  const combined: CombinedModules = { consumers: new Map(), jobs: new Map(), routes: [], callbackTypes: new Map() };
  const names = new Set<string>();
  const addConsumer = (module: string, name: string, consumer: LedgerConsumer, what: string) => {
    if (!isValidWorkName(name))
      throw new ModuleWiringError(`module ${module}: ${what} name "${name}" must match [a-z][a-z0-9_.-]{0,63}`);
    const other = combined.consumers.get(name);
    if (other)
      throw new ModuleWiringError(`ledger consumer "${name}" is declared by both module ${other.module} and module ${module}`);
    combined.consumers.set(name, { module, consumer });
  };

  for (const m of modules) {
    if (!MODULE_NAME.test(m.name)) throw new ModuleWiringError(`module name "${m.name}" must match [a-z][a-z0-9-]{0,31}`);
    if (names.has(m.name)) throw new ModuleWiringError(`two modules are named ${m.name}`);
    names.add(m.name);

    for (const [type, handler] of Object.entries(m.callbackHandlers ?? {}) as [string, unknown][]) {
      if (!isCallbackType(type)) {
        throw new ModuleWiringError(
          `module ${m.name} registers a handler for callback type "${type}", which HireLedger does not know (known: ${CALLBACK_TYPES.join(', ')})`,
        );
      }
      if (typeof handler !== 'function')
        throw new ModuleWiringError(`module ${m.name}: the handler for ${type} is not a function`);
      const other = combined.callbackTypes.get(type);
      if (other) throw new ModuleWiringError(`callback type ${type} has a handler in both module ${other} and module ${m.name}`);
      combined.callbackTypes.set(type, m.name);
      addConsumer(
        m.name,
        callbackConsumerName(m.name, type),
        callbackConsumer(type, handler as CallbackHandler<typeof type>),
        'callback consumer',
      );
    }

    for (const [name, consumer] of Object.entries(m.consumers ?? {})) addConsumer(m.name, name, consumer, 'consumer');

    for (const [name, job] of Object.entries(m.jobs ?? {})) {
      if (!isValidWorkName(name))
        throw new ModuleWiringError(`module ${m.name}: job name "${name}" must match [a-z][a-z0-9_.-]{0,63}`);
      const other = combined.jobs.get(name);
      if (other) throw new ModuleWiringError(`job "${name}" is declared by both module ${other.module} and module ${m.name}`);
      const s = job.schedule;
      if (s && 'every' in s && !(Number.isInteger(s.every) && s.every >= 1000)) {
        throw new ModuleWiringError(
          `module ${m.name}: job ${name} repeats every ${s.every} ms; use whole milliseconds, at least 1000`,
        );
      }
      combined.jobs.set(name, { module: m.name, job });
    }

    if (m.routes) combined.routes.push({ module: m.name, routes: m.routes });
  }
  return combined;
}
