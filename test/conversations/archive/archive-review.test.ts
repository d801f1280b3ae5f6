import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildFinanceSdkStandIn } from '../../../sandbox/archive/build';
import { ArchiveStandIn } from '../../../sandbox/archive/writer';
import { createCandidateDirectory } from '../../../src/candidates';
import { createArchiveChannel, type ArchiveChannel } from '../../../src/conversations/archive';
import { createConversationMetrics } from '../../../src/conversations/metrics';
import { createLedger, type Ledger } from '../../../src/evidence';
import { createLogger } from '../../../src/observability/logger';
import { startApp, type RunningApp } from '../../support/app';

/**
 * Review of issue 9 (DECISIONS 2): an archive msgid already stored was always a redelivery, so a
 * second item under a known msgid with other content (a re-pull after the cursor was set back, or a
 * hostile archive) was dropped without a record, though the page record counted it as a message.
 * Now the decrypted message's digest decides: the same message is one record, another is a new
 * record linked to the first by `variant_of`.
 */

const CORP = 'wwhireledgertest01';
const SECRET = 'archive-secret-for-tests';
const CAND = 'wmCandChenChen0001';
const T0 = Date.UTC(2026, 10, 20, 2, 0, 0);

let work: string;
let dataDir: string;
let library: string;
beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'hl-archive-review-'));
  dataDir = join(work, 'archive-data');
  library = await buildFinanceSdkStandIn({ outDir: join(work, 'lib'), dataDir });
}, 60000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('an archive msgid seen again', () => {
  let app: RunningApp;
  let ledger: Ledger;
  let channel: ArchiveChannel;
  beforeEach(async () => {
    app = await startApp();
    ledger = createLedger({ pool: app.db.appPool });
  });
  afterEach(async () => {
    await channel.close();
    await ledger.close();
    await app.stop();
  });

  test('the same message once; other content under the same msgid is a second record naming the first', async () => {
    const archive = new ArchiveStandIn({ dir: dataDir, corpId: CORP, secret: SECRET });
    const keysDir = mkdtempSync(join(work, 'keys-'));
    const pair = archive.rotateKey();
    writeFileSync(join(keysDir, `${pair.ver}.pem`), pair.privateKeyPem, { mode: 0o600 });
    const base = { action: 'send', from: CAND, tolist: ['zhangmin'], roomid: '', msgtime: T0, msgtype: 'text' };
    const msgid = 'review_msgid_1_external';
    archive.append({ ...base, msgid, text: { content: '我接受' } });
    archive.append({ ...base, msgid, text: { content: '我接受' } });
    archive.append({ ...base, msgid, text: { content: '我不接受' } });
    channel = createArchiveChannel({
      config: {
        WECOM_CORP_ID: CORP,
        MSGAUDIT_SDK_LIBRARY: library,
        MSGAUDIT_SECRET: SECRET,
        MSGAUDIT_PRIVATE_KEYS: keysDir,
        MSGAUDIT_PROXY: undefined,
        MSGAUDIT_PROXY_PASSWORD: undefined,
        MSGAUDIT_PULL_INTERVAL_SECONDS: 300,
      },
      db: app.db.appPool,
      ledger,
      directory: createCandidateDirectory(app.db.appPool),
      metrics: createConversationMetrics(),
    });
    if (!channel.puller) throw new Error('the channel is off');
    await channel.puller.pull((w) => ledger.transact(w), createLogger('silent', 'archive-review'));
    const { rows } = await app.db.pool.query(
      "SELECT seq::int AS seq, hash, source_ref, payload FROM evidence_records WHERE kind = 'conversation.message' ORDER BY seq",
    );
    expect(rows.map((r) => r.payload.text)).toEqual(['我接受', '我不接受']);
    expect(rows[1].payload.variant_of).toEqual({ seq: rows[0].seq, hash: rows[0].hash, source_ref: `archive:${msgid}` });
    expect(rows.map((r) => r.payload.archive_seq)).toEqual([1, 3]);
  }, 60000);
});
