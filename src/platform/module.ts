import type { FastifyPluginAsync } from 'fastify';
import type { PoolClient } from 'pg';
import type { AppendResult, Decision, JsonValue, LedgerReader, RecordHeaderRow, StoredRecord } from '../evidence';
import type { Logger } from '../observability/logger';
import type { CallbackEventOf, CallbackType } from '../wecom/callbacks';

/**
 * The module contract (ARCHITECTURE.md, "Modules"). Each domain folder exports one factory that
 * takes the narrow dependencies it needs and returns a `HireLedgerModule`: what it contributes to
 * the worker (typed callback handlers, ledger consumers, jobs) and to the API (routes).
 * `src/modules.ts` lists the factories; the processes wire what they return, and refuse to start
 * when two modules claim the same callback type, consumer or job name.
 *
 * What runs where, and why:
 * - A callback handler and a ledger consumer run once per ledger record, driven from PostgreSQL:
 *   their progress is committed with their own writes (`ctx.transact`), so a wiped Redis loses no
 *   work and a repeated job changes nothing (exactly once in effect).
 * - A job is for scheduled work (a sweep, a digest) whose input is re-read from PostgreSQL each time.
 *   Work that follows from a record is a consumer, never a job enqueued from code: such a job would
 *   exist only in Redis.
 * - Decisions go through `ctx.transact`: the domain rows and the evidence records that justify
 *   them commit together or not at all.
 */

/** What a callback handler or a ledger consumer may use while handling one record. */
export interface ConsumerContext {
  corpId: string;
  log: Logger;
  reader: LedgerReader;
  /**
   * HireLedger's decision about this record: `work` makes its domain writes on `tx` and returns the
   * evidence entries; they commit together with the mark that this record is done, so the work is
   * never done twice. Call it at most once per record. A handler that never calls it is marked
   * done when it returns (right for handlers whose effect is elsewhere and idempotent).
   */
  transact<T>(work: (tx: PoolClient) => Promise<Decision<T>>): Promise<{ result: T; records: AppendResult[] }>;
}

/** Follows the ledger: every record `accepts` takes, in any order, at least once, done exactly once. */
export interface LedgerConsumer {
  /** From the header alone (kind, source, stream): cheap, called for every record. */
  accepts(record: RecordHeaderRow): boolean;
  handle(record: StoredRecord, ctx: ConsumerContext): Promise<void>;
}

/** A stored callback of a known type, read into its typed event. Other agents' and unparsed records never get here. */
export interface TypedCallback<T extends CallbackType> {
  seq: number;
  hash: string;
  stream: string;
  /** WeCom's CreateTime when sane, else the receive time (DECISIONS 1). */
  occurredAt: Date;
  recordedAt: Date;
  event: CallbackEventOf<T>;
}

export type CallbackHandler<T extends CallbackType> = (callback: TypedCallback<T>, ctx: ConsumerContext) => Promise<void>;

/** At most one handler per known type; a key that is not a known type does not compile. */
export type CallbackHandlers = { readonly [T in CallbackType]?: CallbackHandler<T> };

export type JobData = { readonly [key: string]: JsonValue };

export interface JobContext {
  corpId: string;
  log: Logger;
  reader: LedgerReader;
  /** The ledger's decision path (see ConsumerContext.transact), without a done mark: jobs re-read their input. */
  transact<T>(work: (tx: PoolClient) => Promise<Decision<T>>): Promise<{ result: T; records: AppendResult[] }>;
  /** 1 on the first attempt. */
  attempt: number;
}

export interface JobDefinition<D extends JobData = JobData> {
  process(data: D, ctx: JobContext): Promise<JsonValue | void>;
  /** Repeats: every `every` ms, or on a cron `pattern` (time zone `tz`, default UTC). One scheduler per corp. */
  schedule?: { every: number } | { pattern: string; tz?: string };
  /** The data of scheduled runs. */
  data?: D;
  /** When the job concerns evidence: the stream a permanent failure is recorded on (`hireledger.job.failed`). */
  evidenceStream?(data: D): string;
}

export interface HireLedgerModule {
  /** Lower-case, unique; prefixes its consumers' and jobs' names by convention (`members.profiles`). */
  readonly name: string;
  readonly callbackHandlers?: CallbackHandlers;
  /** Consumer name → consumer. The name is the cursor's name in PostgreSQL: a new name replays the ledger from the start. */
  readonly consumers?: Readonly<Record<string, LedgerConsumer>>;
  /** Job name → definition. */
  readonly jobs?: Readonly<Record<string, JobDefinition>>;
  /** Registered on the API in a scope of its own. */
  readonly routes?: FastifyPluginAsync;
}
