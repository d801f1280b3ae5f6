import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkpointOrigin, checkpointSigner, createCheckpointer, openCheckpoint, verifierKeyOf } from '../../src/evidence';
import { writeNewSigningKey } from '../../src/evidence/signing-key';
import { evidenceEntry } from '../factories/evidence';
import { startApp, type RunningApp } from '../support/app';

/** GET /evidence/checkpoint publishes the newest signed checkpoint so anyone can keep a copy. */
describe('GET /evidence/checkpoint', () => {
  let app: RunningApp;
  let dir: string;
  beforeAll(async () => {
    app = await startApp();
    dir = await mkdtemp(join(tmpdir(), 'hl-cp-route-'));
  });
  afterAll(async () => {
    await app.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('404 with a reason before the first checkpoint, then the newest signed note as text', async () => {
    const none = await fetch(`${app.url}/evidence/checkpoint`);
    expect(none.status).toBe(404);
    expect(await none.json()).toMatchObject({ error: 'no_checkpoint' });

    const origin = checkpointOrigin(app.config.WECOM_CORP_ID);
    const key = await writeNewSigningKey(join(dir, 'k.pem'));
    const checkpointer = createCheckpointer({
      pool: app.db.appPool,
      origin,
      signer: checkpointSigner(origin, key),
      witnesses: [],
    });
    await checkpointer.take();
    await app.app.ledger.append(
      evidenceEntry({ stream: 's', occurredAt: new Date(), actor: 'a', sourceRef: 'one', payload: {} }),
    );
    const { checkpoint } = await checkpointer.take();

    const res = await fetch(`${app.url}/evidence/checkpoint`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    const note = await res.text();
    expect(note).toBe(checkpoint.note);
    expect(openCheckpoint(note, verifierKeyOf(origin, key.publicKey), origin)).toMatchObject({ size: 1 });
  });
});
