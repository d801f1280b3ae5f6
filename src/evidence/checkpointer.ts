import type { Pool } from 'pg';
import type { JsonValue } from './canonical';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { formatCheckpoint, openCheckpoint, signNote, verifierKeyOf } from './checkpoint';
import { verifyConsistency } from './merkle';
import { createMerkleStore } from './merkle-store';
import { MerkleFrontier, type MerkleNode } from './merkle';
import type { SigningKey } from './signing-key';
import { requestTimestamp } from './tsa';

/**
 * Takes signed checkpoints of the evidence Merkle tree and has them witnessed outside the
 * database (DECISIONS 7).
 *
 * A checkpoint is the tree head (size, root) as a C2SP tlog-checkpoint, signed by a key that
 * never enters the database. It is stored here only as a copy; what makes it worth something is
 * that copies sit where nobody with database access can take them back: in a WeCom group's
 * history, in an RFC 3161 time-stamp token, with whoever fetched GET /evidence/checkpoint. A
 * witness that cannot be reached never stops a checkpoint: the checkpoint is signed and stored,
 * the failed attempt recorded, and the attempt retried later.
 */

export interface CheckpointSigner {
  /** The verifier key string (`<name>+<hash>+<key>`), recorded with each checkpoint. */
  keyId: string;
  /** The C2SP checkpoint body for this tree head. */
  body(size: number, rootHash: Buffer): string;
  /** The signed note for a body. */
  sign(body: string): string;
}

export interface WitnessReceipt {
  /** What was sent, as JSON (for a WeCom post: the request body). */
  request?: JsonValue;
  /** The witness's whole answer. */
  response?: JsonValue;
  /** A binary receipt, e.g. an RFC 3161 time-stamp token. */
  token?: Buffer;
  /** When it was handed to the witness, when the witness knows better than the attempt's start. */
  sentAt?: Date;
}

/** Signs checkpoints of the ledger named `origin` (the key name is the origin, as C2SP suggests). */
export function checkpointSigner(origin: string, key: SigningKey): CheckpointSigner {
  return {
    keyId: verifierKeyOf(origin, key.publicKey),
    body: (size, rootHash) => formatCheckpoint({ origin, size, rootHash }),
    sign: (body) => signNote(body, origin, key.privateKey),
  };
}

/**
 * An RFC 3161 time-stamping authority as a witness: it signs the SHA-256 of the signed note with
 * its own time, so the checkpoint provably existed then. The token is what to keep and export.
 */
export function tsaWitness(url: string, timeoutMs = 10_000): CheckpointWitness {
  return {
    name: 'rfc3161',
    async witness(note) {
      const r = await requestTimestamp(note, { url, timeoutMs });
      return {
        request: { url, request_der_base64: r.request.toString('base64') },
        response: {
          status: r.status,
          gen_time: r.genTime ?? null,
          serial_number: r.serialNumber ?? null,
          policy: r.policy ?? null,
          response_der_base64: r.response.toString('base64'),
        },
        token: r.token,
      };
    },
  };
}

export interface CheckpointWitness {
  /** Stable name, stored with each attempt: `wecom_appchat`, `wecom_webhook`, `rfc3161`. */
  name: string;
  witness(note: string): Promise<WitnessReceipt>;
}

export interface StoredCheckpoint {
  id: number;
  origin: string;
  size: number;
  rootHash: Buffer;
  note: string;
  createdAt: Date;
}

export interface WitnessOutcome {
  witness: string;
  status: 'ok' | 'failed';
  error?: string;
}

export interface CheckpointerDeps {
  pool: Pool;
  origin: string;
  /**
   * A file outside the database where the last signed checkpoint is kept (and read back before the
   * next one is signed). Without it, an administrator who rewrites the ledger and deletes the stored
   * checkpoints could get the next checkpoint signed over the rewritten history.
   */
  stateFile?: string;
  signer: CheckpointSigner;
  witnesses: readonly CheckpointWitness[];
  logger?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  /** Give up retrying a witness after this many attempts per checkpoint. */
  maxAttempts?: number;
}

export interface Checkpointer {
  /** Signs the current tree head, stores it, asks every witness once. */
  take(): Promise<{ checkpoint: StoredCheckpoint; witnesses: WitnessOutcome[] }>;
  /** Asks again every witness that has not yet confirmed a checkpoint of the last day. */
  retryWitnesses(): Promise<WitnessOutcome[]>;
  latest(): Promise<StoredCheckpoint | null>;
}

/** The tree head as the append path stored it: its size and the root from the frontier nodes. */
export async function currentTreeHead(pool: Pool): Promise<{ size: number; rootHash: Buffer }> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const { rows } = await client.query<{ size: string; level: number; idx: string; hash: Buffer | null }>(
      `SELECT c.last_seq AS size, f.level, f.idx,
              CASE WHEN f.level = 0 THEN (SELECT decode(e.hash, 'hex') FROM evidence_records e WHERE e.seq = f.idx + 1)
                   ELSE (SELECT m.hash FROM evidence_merkle_nodes m WHERE m.level = f.level AND m.idx = f.idx) END AS hash
         FROM evidence_counter c
         LEFT JOIN LATERAL (
           SELECT l.level, (c.last_seq >> l.level) - 1 AS idx FROM generate_series(0, 62) AS l(level)
            WHERE (c.last_seq >> l.level) & 1 = 1
         ) f ON true
        WHERE c.id = 1`,
    );
    const size = Number(rows[0]?.size ?? 0);
    const nodes: MerkleNode[] = [];
    for (const r of rows) {
      if (r.level === null) continue;
      if (!r.hash) throw new Error(`Merkle node (${r.level}, ${r.idx}) of the tree of ${size} records is missing`);
      nodes.push({ level: r.level, idx: Number(r.idx), hash: r.hash });
    }
    return { size, rootHash: MerkleFrontier.fromNodes(size, nodes).root() };
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release();
  }
}

interface CheckpointRow {
  id: string;
  origin: string;
  tree_size: string;
  root_hash: Buffer;
  note: string;
  created_at: Date;
}

function toCheckpoint(r: CheckpointRow): StoredCheckpoint {
  return {
    id: Number(r.id),
    origin: r.origin,
    size: Number(r.tree_size),
    rootHash: r.root_hash,
    note: r.note,
    createdAt: r.created_at,
  };
}

/** The key refuses to sign: the ledger no longer extends a checkpoint it signed before. */
export class CheckpointRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointRefusedError';
  }
}

/**
 * The newest stored checkpoint of the ledger named `origin`, or null. With a verifier key, the
 * newest one that verifies with it: a row inserted by anyone but the signer is skipped.
 */
export async function latestCheckpoint(pool: Pool, origin: string, verifierKey?: string): Promise<StoredCheckpoint | null> {
  const { rows } = await pool.query<CheckpointRow>(
    `SELECT id, origin, tree_size, root_hash, note, created_at FROM evidence_checkpoints
      WHERE origin = $1 ORDER BY id DESC LIMIT $2`,
    [origin, verifierKey === undefined ? 1 : 50],
  );
  for (const r of rows) {
    if (verifierKey === undefined) return toCheckpoint(r);
    try {
      openCheckpoint(r.note, verifierKey, origin);
      return toCheckpoint(r);
    } catch {
      // forged or foreign: not ours to publish
    }
  }
  return null;
}

/** Every stored checkpoint of the ledger named `origin`, oldest first (for verification). */
export async function storedCheckpoints(pool: Pool, origin: string): Promise<StoredCheckpoint[]> {
  const { rows } = await pool.query<CheckpointRow>(
    `SELECT id, origin, tree_size, root_hash, note, created_at FROM evidence_checkpoints WHERE origin = $1 ORDER BY id`,
    [origin],
  );
  return rows.map(toCheckpoint);
}

export function createCheckpointer(deps: CheckpointerDeps): Checkpointer {
  const { pool, signer } = deps;
  const maxAttempts = deps.maxAttempts ?? 20;

  async function attempt(checkpoint: StoredCheckpoint, w: CheckpointWitness): Promise<WitnessOutcome> {
    let attemptedAt = new Date();
    try {
      const receipt = await w.witness(checkpoint.note);
      attemptedAt = receipt.sentAt ?? attemptedAt;
      await pool.query(
        `INSERT INTO evidence_checkpoint_witnesses (checkpoint_id, witness, status, attempted_at, request, response, token)
         VALUES ($1, $2, 'ok', $3, $4, $5, $6)`,
        [
          checkpoint.id,
          w.name,
          attemptedAt,
          receipt.request === undefined ? null : JSON.stringify(receipt.request),
          receipt.response === undefined ? null : JSON.stringify(receipt.response),
          receipt.token ?? null,
        ],
      );
      deps.logger?.info({ checkpoint: checkpoint.id, size: checkpoint.size, witness: w.name }, 'evidence checkpoint witnessed');
      return { witness: w.name, status: 'ok' };
    } catch (err) {
      const error = (err as Error).message.slice(0, 2000);
      await pool.query(
        `INSERT INTO evidence_checkpoint_witnesses (checkpoint_id, witness, status, attempted_at, error)
         VALUES ($1, $2, 'failed', $3, $4)`,
        [checkpoint.id, w.name, attemptedAt, error],
      );
      deps.logger?.warn({ checkpoint: checkpoint.id, witness: w.name, error }, 'evidence checkpoint witness failed; will retry');
      return { witness: w.name, status: 'failed', error };
    }
  }

  /** The checkpoints this key signed before: the state file's, and the newest stored one that verifies. */
  async function previousHeads(): Promise<{ size: number; rootHash: Buffer; where: string }[]> {
    const heads: { size: number; rootHash: Buffer; where: string }[] = [];
    if (deps.stateFile) {
      let text: string | undefined;
      try {
        text = await readFile(deps.stateFile, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      // A state file that does not verify is refused loudly: it is ours, so it was tampered with.
      if (text !== undefined) heads.push({ ...openCheckpoint(text, signer.keyId, deps.origin), where: deps.stateFile });
    }
    // The newest stored one this key signed; a row anyone else inserted vouches for nothing.
    const stored = await latestCheckpoint(pool, deps.origin, signer.keyId);
    if (stored) heads.push({ size: stored.size, rootHash: stored.rootHash, where: `stored checkpoint ${stored.id}` });
    return heads;
  }

  /** Refuses unless the current tree extends every checkpoint this key signed before. */
  async function checkExtends(head: { size: number; rootHash: Buffer }): Promise<void> {
    const store = createMerkleStore(pool);
    for (const prev of await previousHeads()) {
      const ok =
        prev.size <= head.size &&
        (prev.size === head.size
          ? prev.rootHash.equals(head.rootHash)
          : prev.size === 0 ||
            verifyConsistency(
              prev.size,
              head.size,
              (await store.consistencyProof(prev.size, head.size)).path,
              prev.rootHash,
              head.rootHash,
            ));
      if (!ok) {
        throw new CheckpointRefusedError(
          `the ledger (${head.size} records) does not extend the checkpoint of ${prev.size} records in ${prev.where}: ` +
            'it was rewritten or cut; not signing (run npm run evidence:verify -- --checkpoint <that checkpoint>)',
        );
      }
    }
  }

  return {
    async take() {
      const head = await currentTreeHead(pool);
      await checkExtends(head);
      const note = signer.sign(signer.body(head.size, head.rootHash));
      const { rows } = await pool.query<CheckpointRow>(
        `INSERT INTO evidence_checkpoints (origin, tree_size, root_hash, note, key_id) VALUES ($1, $2, $3, $4, $5)
         RETURNING id, origin, tree_size, root_hash, note, created_at`,
        [deps.origin, head.size, head.rootHash, note, signer.keyId],
      );
      const checkpoint = toCheckpoint(rows[0] as CheckpointRow);
      if (deps.stateFile) {
        // Written after the database copy, replaced atomically: a crash leaves the old or the new.
        await writeFile(`${deps.stateFile}.tmp`, note, { mode: 0o600 });
        await rename(`${deps.stateFile}.tmp`, deps.stateFile);
      }
      deps.logger?.info({ checkpoint: checkpoint.id, size: checkpoint.size }, 'evidence checkpoint signed');
      const witnesses: WitnessOutcome[] = [];
      for (const w of deps.witnesses) witnesses.push(await attempt(checkpoint, w));
      return { checkpoint, witnesses };
    },

    async retryWitnesses() {
      const outcomes: WitnessOutcome[] = [];
      for (const w of deps.witnesses) {
        const { rows } = await pool.query<CheckpointRow>(
          `SELECT c.id, c.origin, c.tree_size, c.root_hash, c.note, c.created_at
             FROM evidence_checkpoints c
            WHERE c.origin = $1 AND c.created_at > now() - interval '1 day'
              AND NOT EXISTS (SELECT 1 FROM evidence_checkpoint_witnesses x
                               WHERE x.checkpoint_id = c.id AND x.witness = $2 AND x.status = 'ok')
              AND (SELECT count(*) FROM evidence_checkpoint_witnesses x WHERE x.checkpoint_id = c.id AND x.witness = $2) < $3
            ORDER BY c.id`,
          [deps.origin, w.name, maxAttempts],
        );
        for (const r of rows) {
          // Only what this key signed is posted: a row inserted by anyone else is not a checkpoint.
          try {
            openCheckpoint(r.note, signer.keyId, deps.origin);
          } catch {
            deps.logger?.warn({ checkpoint: r.id }, 'stored checkpoint does not verify with the signing key; not posting it');
            continue;
          }
          outcomes.push(await attempt(toCheckpoint(r), w));
        }
      }
      return outcomes;
    },

    latest: () => latestCheckpoint(pool, deps.origin),
  };
}
