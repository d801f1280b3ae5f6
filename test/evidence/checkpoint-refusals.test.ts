import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkpointSigner,
  createCheckpointer,
  createLedger,
  latestCheckpoint,
  verifierKeyOf,
  type CheckpointWitness,
  type Ledger,
} from '../../src/evidence';
import { CheckpointRefusedError } from '../../src/evidence/checkpointer';
import { writeNewSigningKey, type SigningKey } from '../../src/evidence/signing-key';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { readAllRows, rewriteLedger } from '../support/tamper';

/**
 * What a security review found the checkpointer must refuse (issue 6 follow-up): signing a
 * rewritten history, posting or publishing a checkpoint the key did not sign.
 */
const ORIGIN = 'hireledger.evidence/wwrefusals01';

describe('the checkpoint signer never vouches for a rewrite', () => {
  let db: TestDatabase;
  let ledger: Ledger;
  let dir: string;
  let key: SigningKey;

  beforeEach(async () => {
    db = await createTestDatabase();
    ledger = createLedger({ pool: db.appPool });
    dir = await mkdtemp(join(tmpdir(), 'hl-refuse-'));
    key = await writeNewSigningKey(join(dir, 'k.pem'));
    for (let i = 1; i <= 9; i++) {
      await ledger.append({
        stream: `candidate:c${i % 2}`,
        kind: 'conversation.message',
        occurredAt: new Date(Date.UTC(2026, 10, 20, 9, 0, i)),
        actor: 'zhangmin',
        source: 'test',
        sourceRef: `m${i}`,
        payload: { text: `消息 ${i}` },
        raw: null,
      });
    }
  });
  afterEach(async () => {
    await ledger.close();
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  });

  const checkpointer = (witnesses: CheckpointWitness[] = [], stateFile?: string) =>
    createCheckpointer({
      pool: db.appPool,
      origin: ORIGIN,
      signer: checkpointSigner(ORIGIN, key),
      witnesses,
      ...(stateFile ? { stateFile } : {}),
    });

  async function deleteRecord5AndRehash() {
    const rows = await readAllRows(db);
    rows.splice(4, 1);
    await rewriteLedger(db, rows);
  }

  test('after a consistent rewrite the next checkpoint is refused, against the stored checkpoint', async () => {
    await checkpointer().take();
    await deleteRecord5AndRehash();
    await expect(checkpointer().take()).rejects.toThrow(CheckpointRefusedError);
    const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM evidence_checkpoints');
    expect(rows[0].n).toBe(1);
  });

  test('and against the state file outside the database when the stored checkpoints were deleted too', async () => {
    const state = join(dir, 'last-checkpoint');
    await checkpointer([], state).take();
    await deleteRecord5AndRehash();
    await db.admin(`BEGIN; SET LOCAL session_replication_role = replica; DELETE FROM evidence_checkpoints; COMMIT;`);
    await expect(checkpointer([], state).take()).rejects.toThrow(/does not extend the checkpoint of 9 records/);
    // Without the state file, nothing would have stopped it: that is why production sets one.
    await expect(checkpointer().take()).resolves.toBeDefined();
  });

  test('appends after a checkpoint are signed as usual', async () => {
    const state = join(dir, 'last-checkpoint');
    await checkpointer([], state).take();
    await ledger.append({
      stream: 'candidate:c1',
      kind: 'k',
      occurredAt: new Date(),
      actor: 'a',
      source: 'test',
      sourceRef: 'later',
      payload: {},
      raw: null,
    });
    const { checkpoint } = await checkpointer([], state).take();
    expect(checkpoint.size).toBe(10);
  });

  test('a checkpoint row the key did not sign is neither posted to the witnesses nor published', async () => {
    const posted: string[] = [];
    const witness: CheckpointWitness = {
      name: 'wecom_webhook',
      witness: async (note) => {
        posted.push(note);
        if (posted.length === 1) throw new Error('group unreachable');
        return { response: { errcode: 0 } };
      },
    };
    const { checkpoint } = await checkpointer([witness]).take();
    // The app login can insert rows: a forged "checkpoint" carrying a phishing text.
    await db.appPool.query(
      `INSERT INTO evidence_checkpoints (origin, tree_size, root_hash, note, key_id, created_at)
       VALUES ($1, 9, $2, '系统升级：请点击 http://evil.example/login', 'x', '2030-01-01')`,
      [ORIGIN, Buffer.alloc(32)],
    );
    const retried = await checkpointer([witness]).retryWitnesses();
    expect(retried).toEqual([{ witness: 'wecom_webhook', status: 'ok' }]);
    expect(posted).toEqual([checkpoint.note, checkpoint.note]);
    const vkey = verifierKeyOf(ORIGIN, key.publicKey);
    expect((await latestCheckpoint(db.appPool, ORIGIN, vkey))?.note).toBe(checkpoint.note);
    expect((await latestCheckpoint(db.appPool, ORIGIN))?.note).toContain('evil.example'); // without a key, unchecked
  });
});
