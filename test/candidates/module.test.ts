import { Redis } from 'ioredis';
import type { Sandbox } from '../../sandbox/server';
import {
  addIdentifier,
  CandidateInputError,
  createCandidateByRecruiter,
  createCandidatesModule,
  positionState,
  savePosition,
  type ExternalContactDirectory,
} from '../../src/candidates';
import { createLedger, type JsonValue, type Ledger } from '../../src/evidence';
import { createLogger } from '../../src/observability/logger';
import { createWecomClient, type WecomClient } from '../../src/wecom/api';
import { contactChange } from '../factories/callbacks';
import { postCallback, signedCallback } from '../factories/signed';
import { startRuntime, until, type RunningRuntime } from '../jobs/harness';
import { startApp, startSandboxFor, type RunningApp } from '../support/app';
import { REDIS_URL } from '../support/env';

/**
 * The candidates module end to end (issue 9 item 1): a person added through a contact way in the
 * sandbox becomes a candidate tied to the way's position, the callback is linked to them, and
 * `externalcontact/get` is asked who they are, as evidence, under the job error policy; re-applicants
 * by external_userid and by phone HMAC are the same person.
 */

interface Row {
  seq: string;
  stream: string;
  kind: string;
  actor: string;
  source: string;
  source_ref: string;
  payload: { [key: string]: JsonValue };
  hash: string;
}

const HMAC_KEY = 'test-candidate-identifier-key-0123456789abcdef';

describe('the candidates module', () => {
  let app: RunningApp;
  let sandbox: Sandbox;
  let redis: Redis;
  let outbound: Ledger;
  let wecom: WecomClient;
  let worker: RunningRuntime | undefined;
  const asked: string[] = [];

  beforeEach(async () => {
    app = await startApp();
    sandbox = await startSandboxFor(app);
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    outbound = createLedger({ pool: app.db.appPool });
    wecom = createWecomClient({
      apiBase: sandbox.url,
      corpId: app.keys.corpId,
      secret: app.config.WECOM_SECRET,
      agentId: app.config.WECOM_AGENT_ID,
      redis,
      logger: createLogger('silent', 't'),
      ledger: outbound,
      options: { keyPrefix: `${app.config.QUEUE_PREFIX}:wecom:` },
    });
    asked.length = 0;
  });
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
    await outbound.close();
    redis.disconnect();
    await sandbox.close();
    await app.stop();
  });

  const contacts = (): ExternalContactDirectory => ({
    getExternalContact: (id, cursor) => {
      asked.push(id);
      return wecom.contact.getExternalContact(id, cursor);
    },
  });
  const startWorker = async () => {
    worker = await startRuntime(app, [createCandidatesModule({ db: app.db.appPool, contacts: contacts() })]);
  };
  const records = async (where = 'true'): Promise<Row[]> =>
    (
      await app.db.pool.query<Row>(
        `SELECT seq, stream, kind, actor, source, source_ref, payload, hash FROM evidence_records WHERE ${where} ORDER BY seq`,
      )
    ).rows;
  const admin = async (path: string, body: unknown) => {
    const res = await fetch(`${sandbox.url}/sandbox/admin/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as { [key: string]: unknown };
  };
  const post = async (xml: string) => expect((await postCallback(app.url, signedCallback(app.keys, xml))).status).toBe(200);

  test('added through a contact way with State: candidate, position, link, recruiter and profile, each as evidence', async () => {
    await savePosition(app.db.appPool, app.keys.corpId, {
      id: 'fe-2026',
      title: '前端工程师',
      salaryMin: 20000,
      salaryMax: 30000,
    });
    // The recruiter's 联系我 QR code, whose state names the position (through the real client).
    const made = await wecom.contactWay.addContactWay({ type: 1, scene: 2, state: positionState('fe-2026'), user: ['zhangmin'] });
    expect(made).toMatchObject({ errcode: 0, config_id: expect.stringMatching(/^[0-9a-f]{32}$/), qr_code: expect.any(String) });
    const way = await wecom.contactWay.getContactWay(made.config_id);
    expect(way.contact_way).toMatchObject({ state: 'pos:fe-2026', user: ['zhangmin'] });

    // A person scans it: WeCom sends change_external_contact with the State.
    await admin('external-contact/add-via-contact-way', {
      config_id: made.config_id,
      external_userid: 'wmNewPerson_AbC01',
      name: '赵新',
      wait: true,
    });
    await startWorker();
    await until('the profile', async () => (await records("kind = 'candidate.profile'")).length === 1);

    const [callback] = await records("kind = 'wecom.callback.event.change_external_contact'");
    const mine = await records("source = 'hireledger.candidates'");
    const candidateId = mine[0]?.payload['candidate_id'] as string;
    const stream = `candidate:${candidateId}`;
    expect(mine.map((r) => [r.kind, r.stream, r.actor])).toEqual([
      ['candidate.created', stream, 'zhangmin'],
      ['candidate.position', stream, 'zhangmin'],
      ['candidate.link', stream, 'hireledger'],
      ['candidate.profile', stream, 'hireledger'],
    ]);
    // No header field of any of them names the person.
    for (const r of mine) for (const f of [r.stream, r.actor, r.source_ref]) expect(f).not.toMatch(/wmNewPerson|赵新/);
    expect(mine[1]?.payload).toMatchObject({
      position_id: 'fe-2026',
      title: '前端工程师',
      via: 'contact_way',
      state: 'pos:fe-2026',
    });
    expect(mine[2]?.payload).toEqual({
      candidate_id: candidateId,
      reason: 'contact_add_external_contact',
      external_userid: 'wmNewPerson_AbC01',
      linked: {
        seq: Number(callback?.seq),
        hash: callback?.hash,
        stream: callback?.stream,
        kind: 'wecom.callback.event.change_external_contact',
      },
    });
    expect(mine[3]?.payload).toMatchObject({
      external_userid: 'wmNewPerson_AbC01',
      api: 'externalcontact/get',
      external_contact: { external_userid: 'wmNewPerson_AbC01', name: '赵新' },
      follow_user: [expect.objectContaining({ userid: 'zhangmin', state: 'pos:fe-2026' })],
      link: { seq: Number(mine[2]?.seq), hash: mine[2]?.hash },
    });
    expect(asked).toEqual(['wmNewPerson_AbC01']);
    const { rows: cand } = await app.db.pool.query('SELECT recruiter, created_via FROM candidates');
    expect(cand).toEqual([{ recruiter: 'zhangmin', created_via: 'contact' }]);
    const { rows: profile } = await app.db.pool.query('SELECT name, candidate_id FROM candidate_profiles');
    expect(profile).toEqual([{ name: '赵新', candidate_id: candidateId }]);
    const { rows: done } = await app.db.pool.query(
      "SELECT consumer, outcome, count(*)::int AS n FROM ledger_consumer_done WHERE consumer LIKE 'candidates.%' GROUP BY 1, 2 ORDER BY 1",
    );
    expect(done).toEqual([
      { consumer: 'candidates.on.event.change_external_contact', outcome: 'done', n: 1 },
      // Every link record is looked at; this one fetched.
      { consumer: 'candidates.profiles', outcome: 'done', n: 1 },
    ]);
  }, 60000);

  test('a re-applicant under the same external_userid, member userid lower-cased, callbacks stored before any candidate linked', async () => {
    const T = Math.floor(Date.now() / 1000) - 3600;
    // Three callbacks stored while no worker runs: nobody is a candidate yet.
    await post(
      contactChange({
        changeType: 'add_external_contact',
        userId: 'ZhangMin',
        externalUserId: 'wmCandChenChen0001',
        createTime: T,
        state: 'campus',
      }),
    );
    await post(
      contactChange({
        changeType: 'del_external_contact',
        userId: 'ZhangMin',
        externalUserId: 'wmCandChenChen0001',
        createTime: T + 60,
      }),
    );
    // She comes back months later, to another recruiter: the same external_userid.
    await post(
      contactChange({
        changeType: 'add_external_contact',
        userId: 'LiQiang',
        externalUserId: 'wmCandChenChen0001',
        createTime: T + 120,
      }),
    );
    // One job at a time, in seq order, so the recruiter is the first add's member.
    worker = await startRuntime(app, [createCandidatesModule({ db: app.db.appPool, contacts: contacts() })], { concurrency: 1 });
    await until('the profiles', async () => (await records("kind = 'candidate.profile'")).length === 2);

    const { rows: cands } = await app.db.pool.query('SELECT id, recruiter FROM candidates');
    expect(cands).toEqual([{ id: expect.any(String), recruiter: 'zhangmin' }]);
    const callbacks = await records("kind = 'wecom.callback.event.change_external_contact'");
    const links = await records("kind = 'candidate.link'");
    // The three callbacks about her are linked, each once, to the one candidate.
    expect(links.map((l) => (l.payload['linked'] as { seq: number }).seq).sort()).toEqual(callbacks.map((c) => Number(c.seq)));
    expect(new Set(links.map((l) => l.stream))).toEqual(new Set([`candidate:${cands[0].id}`]));
    expect(links.map((l) => l.payload['reason']).sort()).toEqual([
      'contact_add_external_contact',
      'contact_add_external_contact',
      'contact_del_external_contact',
    ]);
    expect(await records("kind = 'candidate.created'")).toHaveLength(1);
    const [created] = await records("kind = 'candidate.created'");
    expect(created?.actor).toBe('zhangmin');
    expect(created?.payload['first_contact']).toEqual({ via: 'contact', userid: 'zhangmin', state: 'campus' });
    // external_userid exactly as WeCom sent it.
    const { rows: ext } = await app.db.pool.query('SELECT external_userid FROM candidate_external_ids');
    expect(ext).toEqual([{ external_userid: 'wmCandChenChen0001' }]);
  }, 60000);

  test('a callback handled before the one that made the candidate is attached by a link record, never edited', async () => {
    await savePosition(app.db.appPool, app.keys.corpId, { id: 'be-2026', title: '后端工程师' });
    const T = Math.floor(Date.now() / 1000) - 600;
    // Only the deletion arrives first (the add was delayed): it is handled alone.
    await post(
      contactChange({ changeType: 'del_follow_user', userId: 'zhangmin', externalUserId: 'wmLate_X1', createTime: T + 60 }),
    );
    await startWorker();
    await until('the first link', async () => (await records("kind = 'candidate.link'")).length === 1);
    const before = await records("kind LIKE 'wecom.callback.%'");
    // Then the add, with the contact way's State, arrives.
    await post(
      contactChange({
        changeType: 'add_external_contact',
        userId: 'zhangmin',
        externalUserId: 'wmLate_X1',
        createTime: T,
        state: 'pos:be-2026',
      }),
    );
    await until('the profile', async () => (await records("kind = 'candidate.link'")).length === 2);
    const links = await records("kind = 'candidate.link'");
    const callbacks = await records("kind LIKE 'wecom.callback.%'");
    expect(links.map((l) => (l.payload['linked'] as { seq: number }).seq)).toEqual(callbacks.map((c) => Number(c.seq)));
    expect(new Set(links.map((l) => l.stream)).size).toBe(1);
    // The position is tied by the add, though the candidate was made by the deletion.
    const [position] = await records("kind = 'candidate.position'");
    expect(position?.source_ref).toBe(`position:${links[0]?.payload['candidate_id'] as string}:be-2026:cb${callbacks[1]?.seq}`);
    // The stored callback is exactly what it was.
    expect(callbacks[0]).toEqual(before[0]);
  }, 60000);

  test('callbacks about one new person handled concurrently make one candidate', async () => {
    const T = Math.floor(Date.now() / 1000) - 600;
    const types = ['add_half_external_contact', 'add_external_contact', 'edit_external_contact', 'del_follow_user'] as const;
    for (const [i, changeType] of types.entries()) {
      await post(contactChange({ changeType, userId: 'zhangmin', externalUserId: 'wmCandLinXiao0002', createTime: T + i }));
    }
    worker = await startRuntime(app, [createCandidatesModule({ db: app.db.appPool, contacts: contacts() })], { concurrency: 4 });
    await until('four links', async () => (await records("kind = 'candidate.link'")).length === 4);
    await until('three profiles', async () => (await records("kind = 'candidate.profile'")).length === 3);
    const { rows } = await app.db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM candidates');
    expect(rows[0]?.n).toBe(1);
    expect(await records("kind = 'candidate.created'")).toHaveLength(1);
    expect(new Set((await records("source = 'hireledger.candidates'")).map((r) => r.stream)).size).toBe(1);
  }, 60000);

  test("the sandbox's contact ways refuse what WeCom refuses", async () => {
    const token = await wecom.getAccessToken();
    const call = async (path: string, body: unknown) =>
      (await (
        await fetch(`${sandbox.url}/cgi-bin/externalcontact/${path}?access_token=${token}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        })
      ).json()) as { errcode: number };
    expect((await call('add_contact_way', { type: 1, scene: 2, state: 'x'.repeat(31), user: ['zhangmin'] })).errcode).toBe(40058);
    expect((await call('add_contact_way', { type: 1, scene: 2, user: ['zhangmin', 'liqiang'] })).errcode).toBe(40058);
    expect((await call('add_contact_way', { type: 1, scene: 2, user: ['nobody'] })).errcode).toBe(60111);
    expect((await call('get_contact_way', { config_id: 'f'.repeat(32) })).errcode).toBe(40058);
    await expect(
      wecom.contactWay.addContactWay({ type: 1, scene: 2, state: 'x'.repeat(31), user: ['zhangmin'] }),
    ).rejects.toThrow(RangeError);
  }, 30000);

  test('externalcontact/get failing: 84061 is given up at once and recorded; a network error is retried', async () => {
    // 郑雪's recruiter deleted her in the sandbox seed: WeCom answers 84061.
    await post(
      contactChange({
        changeType: 'edit_external_contact',
        userId: 'zhangmin',
        externalUserId: 'wmCandZhengXue0004',
        createTime: Math.floor(Date.now() / 1000),
      }),
    );
    let failNext = 1;
    const flaky: ExternalContactDirectory = {
      getExternalContact: async (id, cursor) => {
        asked.push(id);
        if (failNext-- > 0)
          throw Object.assign(new Error('fetch failed'), { cause: Object.assign(new Error('reset'), { code: 'ECONNRESET' }) });
        return wecom.contact.getExternalContact(id, cursor);
      },
    };
    worker = await startRuntime(app, [createCandidatesModule({ db: app.db.appPool, contacts: flaky })], {
      jobOptions: { backoff: { type: 'fixed', delay: 50 } },
    });
    await until('the failure record', async () => (await records("kind = 'hireledger.job.failed'")).length === 1, 30000);
    const [failure] = await records("kind = 'hireledger.job.failed'");
    const [link] = await records("kind = 'candidate.link'");
    expect(failure?.stream).toBe('job:candidates.profiles');
    expect(failure?.payload).toEqual(
      expect.objectContaining({
        consumer: 'candidates.profiles',
        record: { seq: Number(link?.seq), hash: link?.hash },
        reason: 'wecom_errcode',
        error: expect.objectContaining({ errcode: 84061 }),
      }),
    );
    // First a network error (retried), then 84061 (permanent): two calls, no profile.
    expect(asked).toEqual(['wmCandZhengXue0004', 'wmCandZhengXue0004']);
    expect(await records("kind = 'candidate.profile'")).toHaveLength(0);
    const { rows } = await app.db.pool.query("SELECT outcome FROM ledger_consumer_done WHERE consumer = 'candidates.profiles'");
    expect(rows).toEqual([{ outcome: 'failed' }]);
  }, 60000);

  test('re-applicant by phone: stored as an HMAC only, the second row merged into the first, never a duplicate', async () => {
    const deps = { transact: outbound.transact.bind(outbound), hmacKey: HMAC_KEY };
    const corpId = app.keys.corpId;
    const first = await createCandidateByRecruiter(deps, {
      corpId,
      recruiter: 'ZhangMin',
      identifiers: [{ kind: 'phone', value: '+86 138-0000-0001', consentBasis: 'separate_consent' }],
    });
    expect(first.created).toBe(true);
    expect(first.candidate.recruiter).toBe('zhangmin');
    // The same phone, written differently, for a new hand-made candidate: the existing one.
    const again = await createCandidateByRecruiter(deps, {
      corpId,
      recruiter: 'liqiang',
      identifiers: [{ kind: 'phone', value: '13800000001', consentBasis: 'separate_consent' }],
    });
    expect(again).toEqual({ candidate: first.candidate, created: false });

    // She also came in through a contact (another row); a recruiter enters her phone there: one person.
    await startWorker();
    await post(
      contactChange({
        changeType: 'add_external_contact',
        userId: 'chenjing',
        externalUserId: 'wmCandWuHao0003',
        createTime: Math.floor(Date.now() / 1000),
      }),
    );
    await until('the contact candidate', async () => (await records("kind = 'candidate.profile'")).length === 1);
    const { rows: later } = await app.db.pool.query<{ candidate_id: string }>(
      "SELECT candidate_id FROM candidate_external_ids WHERE external_userid = 'wmCandWuHao0003'",
    );
    const laterId = later[0]?.candidate_id as string;
    const merged = await addIdentifier(deps, {
      corpId,
      candidateId: laterId,
      enteredBy: 'ChenJing',
      input: { kind: 'phone', value: '138 0000 0001', consentBasis: 'contract_necessity' },
    });
    expect(merged).toEqual({ candidate: first.candidate, status: 'merged', mergedFrom: laterId });
    // Every lookup now finds the first candidate.
    const directory = (await import('../../src/candidates')).createCandidateDirectory(app.db.appPool);
    expect((await directory.find(corpId, 'wmCandWuHao0003'))?.candidateId).toBe(first.candidate.candidateId);
    expect((await directory.get(corpId, laterId))?.candidateId).toBe(first.candidate.candidateId);
    // Entering it again is known.
    expect(
      (
        await addIdentifier(deps, {
          corpId,
          candidateId: laterId,
          enteredBy: 'chenjing',
          input: { kind: 'phone', value: '13800000001', consentBasis: 'separate_consent' },
        })
      ).status,
    ).toBe('known');

    // The phone is nowhere in plain: one HMAC row, with who entered it and the consent basis.
    const { rows: ids } = await app.db.pool.query(
      'SELECT kind, digest, candidate_id, entered_by, consent_basis FROM candidate_identifiers',
    );
    expect(ids).toEqual([
      {
        kind: 'phone',
        digest: expect.stringMatching(/^[0-9a-f]{64}$/),
        candidate_id: first.candidate.candidateId,
        entered_by: 'zhangmin',
        consent_basis: 'separate_consent',
      },
    ]);
    const all = JSON.stringify(await records());
    expect(all).not.toContain('13800000001');
    expect(all).not.toContain('138-0000');
    const mergedRecords = await records("kind = 'candidate.merged'");
    expect(mergedRecords.map((r) => [r.stream, r.actor, r.payload['merged'], r.payload['into']])).toEqual([
      [`candidate:${first.candidate.candidateId}`, 'chenjing', laterId, first.candidate.candidateId],
      [`candidate:${laterId}`, 'chenjing', laterId, first.candidate.candidateId],
    ]);
    const identifiers = await records("kind = 'candidate.identifier'");
    expect(identifiers.map((r) => [r.stream, r.payload['consent_basis'], r.payload['matched_candidate']])).toEqual([
      [`candidate:${first.candidate.candidateId}`, 'separate_consent', null],
      [`candidate:${laterId}`, 'contract_necessity', first.candidate.candidateId],
    ]);
    for (const r of identifiers) expect(r.source_ref).not.toContain(r.payload['hmac_sha256'] as string);

    // Bad input is refused with a reason, before anything is written.
    await expect(
      addIdentifier(deps, {
        corpId,
        candidateId: laterId,
        enteredBy: 'chenjing',
        input: { kind: 'id_number', value: '110101199003071234', consentBasis: 'separate_consent' },
      }),
    ).rejects.toThrow(CandidateInputError);
    await expect(
      addIdentifier(
        { ...deps, hmacKey: undefined },
        {
          corpId,
          candidateId: laterId,
          enteredBy: 'chenjing',
          input: { kind: 'phone', value: '13800000002', consentBasis: 'separate_consent' },
        },
      ),
    ).rejects.toThrow('CANDIDATE_IDENTIFIER_HMAC_KEY');
  }, 60000);
});
