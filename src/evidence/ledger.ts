import type { Pool, PoolClient, QueryResult } from 'pg';
import { canonicalize, type JsonValue } from './canonical';
import { HASH_VERSION, leafHashOfHeader, sha256Hex } from './record';
import type { AppendResult, EvidenceEntry, RedeliveryRule } from './types';

/**
 * The evidence ledger's write side.
 *
 * Appends are group-committed: callers queue entries, a batch takes everything queued (up to
 * batchMax) into one transaction, and every caller's promise resolves only after that
 * transaction has committed. Many callbacks share one commit, yet none is acknowledged before
 * it is durable.
 *
 * Across processes, the evidence_counter row lock serialises batches. Inside it a batch reads the
 * stream heads, computes the chain and writes everything in one statement. Round trips under the
 * lock are what limit throughput, so:
 * - payload and raw are canonicalised before the lock; only the small header is hashed under it;
 * - one batch at a time per process: the next starts when the current one has committed, taking
 *   everything queued meanwhile. Each batch costs PostgreSQL a fixed ~1.5–3 ms of CPU (the lock,
 *   the lookup, evidence_append()'s dozen statements, the commit; `npm run bench:append`), so fewer,
 *   fuller batches beat sending the next one behind the COMMIT to wait on the lock: measured with
 *   bench:ingest, batches of 31 instead of 21 at concurrency 64, 5–10 % more callbacks/s, 15 % less
 *   PostgreSQL CPU per callback, at a steady 300 callbacks/s p50 about a third lower and p99 a
 *   little (README, issue 8). Waiting costs one round trip per batch, which matters only when
 *   PostgreSQL is far away: so when a batch's lock and lookup took longer than `pipelineAfterMs`
 *   (50 ms; 2–27 ms when merely CPU-bound, ≥ 200 ms with +200 ms of network), the next batch is
 *   sent right behind its COMMIT instead, to wait on the lock inside PostgreSQL (bench:faults:
 *   p50 at +400 ms round trip 1.65 s waiting, 1.25 s sent early);
 * - with a pipelining pool (`pipeline: true`, see infra/db/pool.ts) lock + lookup and insert +
 *   COMMIT each travel together. Without one, the same code is correct, just slower.
 */

export interface LedgerOptions {
  pool: Pool;
  /** Largest number of entries in one transaction. */
  batchMax?: number;
  onBatch?: (size: number, durationMs: number) => void;
  /**
   * A batch whose lock and lookup took at least this long (PostgreSQL far away) lets the next batch
   * start as soon as it has sent its COMMIT; otherwise the next starts once it has committed.
   * Default 50 ms.
   */
  pipelineAfterMs?: number;
}

export class EvidenceInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EvidenceInputError';
  }
}

interface Pending {
  entry: EvidenceEntry;
  payloadJcs: string;
  rawJcs: string;
  payloadSha256: string;
  rawSha256: string | null;
  resolve: (r: AppendResult) => void;
  reject: (e: unknown) => void;
}

/** A decision's records, and optionally the stream heads they must follow (compare-and-append). */
export interface Decision<T> {
  result: T;
  entries: EvidenceEntry[];
  /**
   * Stream → the head hash the stream must still have when the records are appended (null: empty).
   * Any stream may be named, not only those the entries append to.
   */
  expectedHeads?: Record<string, string | null>;
  /**
   * By default a decision whose entry is already stored (same source and sourceRef) is refused and
   * rolled back: its domain write would otherwise commit while the only evidence says something
   * else. Set for decisions that are idempotent by design (a retried job re-making the same one).
   */
  allowDuplicates?: boolean;
}

/** Refused decision: one of its records is already stored, so its domain write would have no evidence of its own. */
export class DuplicateDecisionError extends Error {
  constructor(readonly sourceRef: string) {
    super(`a record with source_ref ${sourceRef} is already stored; the decision was rolled back`);
    this.name = 'DuplicateDecisionError';
  }
}

/** Statements that would end or split the decision's transaction, refused on the transaction handed to `work`. */
const TRANSACTION_CONTROL =
  /(^|;)\s*(BEGIN|COMMIT|ROLLBACK|END|ABORT|START\s+TRANSACTION|SAVEPOINT|RELEASE|PREPARE\s+TRANSACTION)\b/i;

/** The transaction's client, minus the ability to commit or roll back behind the ledger's back. */
function guarded(client: PoolClient): PoolClient {
  return new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === 'release') return () => undefined;
      if (prop !== 'query') return Reflect.get(target, prop, receiver) as unknown;
      return (...args: unknown[]) => {
        const first = args[0];
        const text = typeof first === 'string' ? first : (first as { text?: unknown } | null)?.text;
        if (typeof text === 'string' && TRANSACTION_CONTROL.test(text)) {
          throw new Error('ledger.transact: the work may not begin, commit or roll back the transaction itself');
        }
        return (target.query as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/** Refused compare-and-append: the stream moved on since the caller read it. */
export class StaleStreamError extends Error {
  constructor(
    readonly stream: string,
    readonly expected: string | null,
    readonly actual: string | null,
  ) {
    super(`stream ${stream} has moved on: expected head ${expected ?? '(empty)'}, found ${actual ?? '(empty)'}`);
    this.name = 'StaleStreamError';
  }
}

export interface Ledger {
  /**
   * Group-committed append, for facts received from outside (WeCom callbacks): resolves once the
   * record is durable.
   */
  append(entry: EvidenceEntry): Promise<AppendResult>;
  /**
   * HireLedger's own decisions: `work` makes its domain writes on the transaction's client and
   * returns the records that evidence them; both commit together or neither does. The ledger lock
   * is taken only after `work`, so it is held no longer than for a group commit, commits stay in
   * seq order, and a domain transaction never waits for the lock while holding it.
   */
  transact<T>(work: (tx: PoolClient) => Promise<Decision<T>>): Promise<{ result: T; records: AppendResult[] }>;
  /** Waits for queued appends to finish; later appends are refused. */
  close(): Promise<void>;
}

export function createLedger(opts: LedgerOptions): Ledger {
  const batchMax = opts.batchMax ?? 256;
  const pipelineAfterMs = opts.pipelineAfterMs ?? 50;
  const queue: Pending[] = [];
  const inflight = new Set<Promise<void>>();
  /** Resolves when the newest batch has committed or failed (or, PostgreSQL answering slowly, sent its COMMIT): the next may then start. */
  let gate: Promise<void> = Promise.resolve();
  let scheduled = false;
  let closed = false;

  function kick(): void {
    if (scheduled || queue.length === 0) return;
    scheduled = true;
    void gate.then(() => {
      scheduled = false;
      if (queue.length === 0) return;
      const batch = queue.splice(0, batchMax);
      const started = performance.now();
      let open: () => void = () => undefined;
      // Never rejects: a rejected gate would leave `scheduled` set and every later append waiting.
      gate = new Promise<void>((resolve) => (open = resolve));
      const early = (lockMs: number) => {
        if (lockMs >= pipelineAfterMs) open();
      };
      // commitIsolated settles every caller itself; should it ever throw, its callers get that error
      // (settling a promise twice does nothing) and the gate still opens.
      const run: Promise<void> = commitIsolated(opts.pool, batch, early)
        .catch((err: unknown) => batch.forEach((p) => p.reject(err)))
        .finally(() => {
          open();
          inflight.delete(run);
          try {
            opts.onBatch?.(batch.length, performance.now() - started);
          } catch {
            // metrics only
          }
        });
      inflight.add(run);
      kick();
    });
  }

  return {
    async transact(work) {
      if (closed) throw new Error('ledger is closed');
      const client = await opts.pool.connect();
      let broken = false;
      try {
        await client.query('BEGIN');
        const decision = await work(guarded(client));
        const batch = decision.entries.map((entry) => ({
          entry,
          ...prepare(entry),
          resolve: () => undefined,
          reject: () => undefined,
        }));
        const expectedHeads = new Map(Object.entries(decision.expectedHeads ?? {}));
        const records =
          batch.length === 0 && expectedHeads.size === 0
            ? await client.query('COMMIT').then(() => [])
            : await appendLocked(client, batch, {
                inTransaction: true,
                expectedHeads,
                refuseDuplicates: decision.allowDuplicates !== true,
              });
        return { result: decision.result, records };
      } catch (err) {
        broken = !(await rollback(client));
        throw err;
      } finally {
        client.release(broken);
      }
    },
    append(entry) {
      if (closed) return Promise.reject(new Error('ledger is closed'));
      let prepared: ReturnType<typeof prepare>;
      try {
        prepared = prepare(entry);
      } catch (err) {
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- rejects with what prepare() threw, unchanged
        return Promise.reject(err);
      }
      return new Promise<AppendResult>((resolve, reject) => {
        queue.push({ entry, ...prepared, resolve, reject });
        kick();
      });
    },
    async close() {
      closed = true;
      while (queue.length > 0 || inflight.size > 0) {
        await Promise.all([...inflight]);
        await gate;
      }
    },
  };
}

/**
 * Refuses what could not be stored and re-verified exactly. Returns payload and raw in JCS with
 * their digests, computed here, outside the ledger lock.
 */
function prepare(e: EvidenceEntry): Pick<Pending, 'payloadJcs' | 'rawJcs' | 'payloadSha256' | 'rawSha256'> {
  const text = (name: string, v: unknown, max: number) => {
    if (typeof v !== 'string' || v.length === 0 || v.length > max || v.includes('\u0000') || !v.isWellFormed()) {
      throw new EvidenceInputError(`${name} must be a non-empty string of at most ${max} characters`);
    }
  };
  text('stream', e.stream, 256);
  text('kind', e.kind, 128);
  text('source', e.source, 64);
  text('sourceRef', e.sourceRef, 512);
  if (typeof e.actor !== 'string' || e.actor.length > 256 || e.actor.includes('\u0000') || !e.actor.isWellFormed()) {
    throw new EvidenceInputError('actor must be a string of at most 256 characters');
  }
  if (!(e.occurredAt instanceof Date) || Number.isNaN(e.occurredAt.getTime())) {
    throw new EvidenceInputError('occurredAt must be a valid Date');
  }
  // The hashed form writes years with four digits (docs/evidence-format.md); PostgreSQL would
  // also refuse what toISOString writes for years past 9999.
  const year = e.occurredAt.getUTCFullYear();
  if (year < 1 || year > 9999) throw new EvidenceInputError('occurredAt must be in the years 0001 to 9999');
  if (e.redelivery) {
    if (!/^[0-9a-f]{64}$/.test(e.redelivery.digest)) throw new EvidenceInputError('redelivery.digest must be 64 hex digits');
    if (typeof e.payload !== 'object' || e.payload === null || Array.isArray(e.payload)) {
      throw new EvidenceInputError('an entry with a redelivery rule needs an object payload (a variant gets variant_of)');
    }
  }
  try {
    const payloadJcs = canonicalize(e.payload);
    const rawJcs = canonicalize(e.raw);
    return { payloadJcs, rawJcs, payloadSha256: sha256Hex(payloadJcs), rawSha256: e.raw === null ? null : sha256Hex(rawJcs) };
  } catch (err) {
    throw new EvidenceInputError(`payload/raw are not storable evidence: ${(err as Error).message}`);
  }
}

/**
 * Commits a batch and settles every caller. When PostgreSQL refuses the batch because of one
 * entry's content, the batch is split and retried, so the bad entry fails alone and every good
 * entry beside it still commits (one hostile callback must not turn 39 good ones into 503s).
 */
async function commitIsolated(pool: Pool, batch: Pending[], sentCommit?: SentCommit): Promise<void> {
  try {
    const results = await commitBatch(pool, batch, sentCommit);
    batch.forEach((p, i) => p.resolve(results[i] as AppendResult));
  } catch (err) {
    if (batch.length === 1 || !isDataError(err)) {
      batch.forEach((p) => p.reject(err));
      return;
    }
    const half = Math.ceil(batch.length / 2);
    await commitIsolated(pool, batch.slice(0, half));
    await commitIsolated(pool, batch.slice(half));
  }
}

/** Told, once a batch's COMMIT has been sent, how long its lock and lookup took. */
type SentCommit = (lockMs: number) => void;

async function commitBatch(pool: Pool, batch: Pending[], sentCommit?: SentCommit): Promise<AppendResult[]> {
  const client = await pool.connect();
  let broken = false;
  try {
    return await appendLocked(client, batch, sentCommit ? { sentCommit } : {});
  } catch (err) {
    broken = !(await rollback(client));
    throw err;
  } finally {
    client.release(broken);
  }
}

async function rollback(client: PoolClient): Promise<boolean> {
  try {
    await client.query('ROLLBACK');
    return true;
  } catch {
    return false;
  }
}

type KnownRow = {
  t: 'dup' | 'head';
  k1: string;
  k2: string | null;
  seq: string;
  hash: string;
  payload: JsonValue | null;
};

interface Stored {
  seq: number;
  hash: string;
  /** The stored payload, or (for a record of this same batch) its JCS, parsed only if needed. */
  payload: JsonValue | null;
  jcs?: string;
}

/** A store failed because of one entry's content (SQLSTATE classes 22 and 23), not the database. */
function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}

/** The keys probed for one entry: its own, its variant key, and the aliases of an older key format. */
function probesOf(p: Pending): string[] {
  const r = p.entry.redelivery;
  if (!r) return [p.entry.sourceRef];
  return [p.entry.sourceRef, variantRef(p.entry.sourceRef, r.digest), ...(r.aliases ?? [])];
}

function variantRef(sourceRef: string, digest: string): string {
  return `${sourceRef}#${digest.slice(0, 16)}`;
}

interface LockedOptions {
  /** The caller already began the transaction (and wrote its own rows in it). */
  inTransaction?: boolean;
  /** Stream → the head hash it must still have (null: the stream must be empty). */
  expectedHeads?: ReadonlyMap<string, string | null>;
  /** Throw DuplicateDecisionError (before COMMIT) when an entry is already stored. */
  refuseDuplicates?: boolean;
  sentCommit?: SentCommit;
}

async function appendLocked(client: PoolClient, batch: Pending[], options: LockedOptions = {}): Promise<AppendResult[]> {
  const entries = batch.map((p) => p.entry);
  const streams = [...new Set([...entries.map((e) => e.stream), ...(options.expectedHeads?.keys() ?? [])])];
  const probeSources: string[] = [];
  const probeRefs: string[] = [];
  for (const p of batch) {
    for (const ref of probesOf(p)) {
      probeSources.push(p.entry.source);
      probeRefs.push(ref);
    }
  }
  // BEGIN and the lock in one message (simple protocol, no parameters). The lookup is sent right
  // behind it; PostgreSQL runs it only once the lock is held, with a snapshot taken then.
  // evidence_append() selects only the batch's own rows and nodes (migration 1764547200005), so its
  // cached plans stay cheap however large the ledger grows (test/evidence/append-cost.test.ts).
  const lockSql = 'SELECT last_seq, last_recorded_at, now FROM evidence_lock()';
  // A message of several statements answers one result per statement, one of a single statement just that.
  const lockQuery = (options.inTransaction ? client.query(lockSql) : client.query(`BEGIN; ${lockSql}`)).then(
    (r: QueryResult | QueryResult[]) => (Array.isArray(r) ? r : [r]),
  );
  const knownQuery = client.query<KnownRow>({
    // LATERAL keeps this an index probe per key. Planned per call on purpose: a cached generic
    // plan scanned instead and cost ten times more. Payloads come back only for keys already
    // stored (redeliveries), to tell a redelivery from a distinct event sharing its key.
    text: `SELECT 'dup' AS t, r.source AS k1, r.source_ref AS k2, r.seq, r.hash, r.payload
             FROM unnest($1::text[], $2::text[]) AS q(source, source_ref)
             CROSS JOIN LATERAL (
               SELECT e.source, e.source_ref, e.seq, e.hash, e.payload FROM evidence_records e
                WHERE e.source = q.source AND e.source_ref = q.source_ref
             ) r
           UNION ALL
           SELECT 'head', h.stream, NULL, h.seq, h.hash, NULL FROM evidence_heads h WHERE h.stream = ANY($3::text[])
`,
    values: [probeSources, probeRefs, streams],
  });
  // Both are awaited together so that a failure of either is seen (and none goes unhandled).
  const lockSent = performance.now();
  const [lock, known] = await Promise.all([lockQuery, knownQuery]);
  const lockMs = performance.now() - lockSent;
  // The lock's result is the last.
  const counter = (lock[lock.length - 1] as QueryResult<{ last_seq: string; last_recorded_at: Date; now: Date }> | undefined)
    ?.rows[0];
  if (!counter) throw new Error('evidence_lock() returned nothing: run npm run db:migrate');
  const firstSeq = Number(counter.last_seq) + 1;
  let seq = firstSeq - 1;
  const recordedAt = counter.now;

  const existing = new Map<string, Stored>();
  const heads = new Map<string, string>();
  const checkHeads = () => {
    for (const [stream, expected] of options.expectedHeads ?? []) {
      const actual = heads.get(stream) ?? null;
      if (actual !== expected) throw new StaleStreamError(stream, expected, actual);
    }
  };
  for (const r of known.rows) {
    if (r.t === 'dup') existing.set(refKey(r.k1, r.k2 ?? ''), { seq: Number(r.seq), hash: r.hash, payload: r.payload });
    else heads.set(r.k1, r.hash);
  }
  checkHeads();

  const rows: string[] = [];
  const duplicates = new Map<string, { source: string; source_ref: string; n: number }>();
  const duplicate = (source: string, sourceRef: string, prior: Stored): AppendResult => {
    const key = refKey(source, sourceRef);
    const d = duplicates.get(key) ?? { source, source_ref: sourceRef, n: 0 };
    d.n += 1;
    duplicates.set(key, d);
    return { status: 'duplicate', seq: prior.seq, hash: prior.hash };
  };

  const results: AppendResult[] = batch.map((p) => {
    const e = p.entry;
    let { payloadJcs, payloadSha256 } = p;
    let sourceRef = e.sourceRef;
    let variantOf: { seq: number; hash: string } | undefined;
    const rule = e.redelivery;
    const prior = existing.get(refKey(e.source, e.sourceRef));
    if (!rule) {
      if (prior) return duplicate(e.source, e.sourceRef, prior);
    } else {
      // DECISIONS 2: the same key and the same parsed fields is a redelivery; the same key with
      // different fields is a distinct event, stored under its own key and linked to the first.
      const vRef = variantRef(e.sourceRef, rule.digest);
      const variant = existing.get(refKey(e.source, vRef));
      if (variant) return duplicate(e.source, vRef, variant);
      if (prior && sameEvent(rule, prior)) return duplicate(e.source, e.sourceRef, prior);
      for (const alias of rule.aliases ?? []) {
        const old = existing.get(refKey(e.source, alias));
        if (old && sameEvent(rule, old)) return duplicate(e.source, alias, old);
      }
      if (prior) {
        sourceRef = vRef;
        variantOf = { seq: prior.seq, hash: prior.hash };
        const withLink = { ...(e.payload as Record<string, JsonValue>), variant_of: { ...variantOf, source_ref: e.sourceRef } };
        payloadJcs = canonicalize(withLink);
        payloadSha256 = sha256Hex(payloadJcs);
      }
    }
    seq += 1;
    const prevHash = heads.get(e.stream) ?? null;
    const hash = leafHashOfHeader({
      seq,
      stream: e.stream,
      kind: e.kind,
      occurredAt: e.occurredAt,
      recordedAt,
      actor: e.actor,
      source: e.source,
      sourceRef,
      prevHash,
      payloadSha256,
      rawSha256: p.rawSha256,
    });
    heads.set(e.stream, hash);
    existing.set(refKey(e.source, sourceRef), { seq, hash, payload: null, jcs: payloadJcs });
    // One JSON object per row, with payload and raw spliced in as the JSON they already are.
    rows.push(
      `{"seq":${seq},"stream":${JSON.stringify(e.stream)},"kind":${JSON.stringify(e.kind)},` +
        `"occurred_at":"${e.occurredAt.toISOString()}","actor":${JSON.stringify(e.actor)},"source":${JSON.stringify(e.source)},` +
        `"source_ref":${JSON.stringify(sourceRef)},"payload":${payloadJcs},"raw":${p.rawJcs},` +
        `"payload_sha256":"${payloadSha256}","raw_sha256":${p.rawSha256 === null ? 'null' : `"${p.rawSha256}"`},` +
        `"prev_hash":${prevHash === null ? 'null' : `"${prevHash}"`},"hash":"${hash}"}`,
    );
    return variantOf ? { status: 'appended', seq, hash, recordedAt, variantOf } : { status: 'appended', seq, hash, recordedAt };
  });

  if (options.refuseDuplicates) {
    const i = results.findIndex((r) => r.status === 'duplicate');
    if (i !== -1) throw new DuplicateDecisionError((batch[i] as Pending).entry.sourceRef);
  }

  // The whole batch travels as one JSON document that PostgreSQL parses once; far cheaper than
  // one array parameter per column. evidence_append() checks the structure, computes the Merkle
  // nodes and moves the counter, heads and redelivery counts (the app role may do none of that).
  const insert = client.query({
    name: 'evidence-append',
    text: 'SELECT evidence_append($1, $2, $3::jsonb, $4::jsonb) AS last_seq',
    values: [HASH_VERSION, recordedAt, `[${rows.join(',')}]`, JSON.stringify([...duplicates.values()])],
  });
  const commit = client.query('COMMIT');
  options.sentCommit?.(lockMs);
  const [, committed] = await Promise.all([insert, commit]);
  // COMMIT of a transaction whose insert failed answers ROLLBACK; the insert's own error is thrown
  // above, this is the belt to those braces.
  if (committed.command !== 'COMMIT') throw new Error(`evidence batch not committed (${committed.command})`);
  return results;
}

function sameEvent(rule: RedeliveryRule, stored: Stored): boolean {
  try {
    const payload = stored.jcs !== undefined ? (JSON.parse(stored.jcs) as JsonValue) : stored.payload;
    return payload !== null && rule.digestOf(payload) === rule.digest;
  } catch {
    return false;
  }
}

function refKey(source: string, sourceRef: string): string {
  return `${source}\u0000${sourceRef}`;
}
