import { z } from 'zod';
import { loadDotEnvOnce } from './dotenv';

/**
 * The whole runtime configuration, parsed once at start-up from the environment.
 * Nothing else in src/ reads process.env: pass the Config (or the slice a module needs) in.
 * Secrets have no defaults; a missing or malformed variable stops the process with its name.
 */

const url = (protocols: string[]) =>
  z
    .string()
    .min(1)
    .refine(
      (v) => {
        try {
          return protocols.includes(new URL(v).protocol);
        } catch {
          return false;
        }
      },
      `must be a URL with scheme ${protocols.join(' or ')}`,
    );

const encodingAesKey = z.string().regex(/^[A-Za-z0-9]{43}$/, 'must be exactly 43 letters or digits (WeCom EncodingAESKey)');

const intFrom = (min: number, max: number) =>
  z.string().regex(/^\d+$/, 'must be a whole number').transform(Number).pipe(z.number().int().min(min).max(max));

const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: url(['postgres:', 'postgresql:']),
  REDIS_URL: url(['redis:', 'rediss:']),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: intFrom(0, 65535).default(3000),
  /**
   * The reverse proxies in front of the API whose X-Forwarded-For is believed (Fastify's trustProxy):
   * unset or `false`, none (req.ip is the peer); a number, that many hops; otherwise a comma-separated
   * list of addresses or CIDRs (e.g. `10.0.0.0/8,127.0.0.1`). Behind a proxy this must be set: the
   * acceptance page records the candidate's IP and rate-limits by it. `true` (trust anyone) is refused.
   */
  TRUST_PROXY: z
    .string()
    .optional()
    .transform((v, ctx): false | number | string[] => {
      const t = (v ?? '').trim();
      if (t === '' || t === 'false') return false;
      if (/^\d{1,2}$/.test(t)) return Number(t);
      const list = t.split(',').map((x) => x.trim());
      const ipOrCidr = /^(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-fA-F:]*:[0-9a-fA-F:.]*)(?:\/\d{1,3})?$/;
      if (list.every((x) => ipOrCidr.test(x))) return list;
      ctx.addIssue({
        code: 'custom',
        message: 'false, a hop count, or addresses/CIDRs separated by commas (not true: that trusts anyone)',
      });
      return z.NEVER;
    }),
  WECOM_CORP_ID: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be your WeCom CorpID (letters, digits)'),
  WECOM_AGENT_ID: z.string().regex(/^\d{1,12}$/, 'must be the numeric AgentId of the self-built app'),
  WECOM_SECRET: z.string().min(1, 'must be the app Secret'),
  WECOM_TOKEN: z.string().regex(/^[A-Za-z0-9]{1,32}$/, 'must be 1-32 letters or digits (WeCom callback Token)'),
  WECOM_ENCODING_AES_KEY: encodingAesKey,
  /** Accepted for decryption only, while an admin rotates the key in the WeCom console. */
  WECOM_ENCODING_AES_KEY_PREVIOUS: encodingAesKey.optional(),
  WECOM_API_BASE: url(['https:', 'http:']).default('https://qyapi.weixin.qq.com'),
  WECOM_CALLBACK_MAX_SKEW_SECONDS: intFrom(0, 86400).default(300),
  /** The offer approval template (oa/applyevent); without it offers are not submitted to WeCom (docs/approvals.md). */
  WECOM_OFFER_TEMPLATE_ID: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be the template_id of the offer approval template')
    .optional(),
  /** JSON: the template's control ids and level option keys (src/approvals/form.ts parseOfferControls). */
  WECOM_OFFER_CONTROLS: z.string().min(2).optional(),
  CALLBACK_BODY_LIMIT_BYTES: intFrom(1024, 1048576).default(65536),
  /** Redis key prefix for BullMQ queues (lets several deployments share one Redis). */
  QUEUE_PREFIX: z
    .string()
    .regex(/^[a-z0-9:_-]{1,40}$/, 'must be 1-40 of a-z 0-9 : _ -')
    .default('hireledger'),
  /** Most evidence records written in one group commit. */
  EVIDENCE_BATCH_MAX: intFrom(1, 5000).default(256),
  /**
   * Ed25519 private key (PKCS#8 PEM, `npm run evidence:keygen`) that signs evidence checkpoints.
   * Only the worker and `npm run evidence:checkpoint` read it; it never enters the database.
   */
  EVIDENCE_SIGNING_KEY_FILE: z.string().min(1).optional(),
  /**
   * Where the worker keeps the last checkpoint it signed, outside the database (a writable volume).
   * Before signing the next one it checks the ledger still extends it, so an administrator who
   * rewrites the ledger and deletes the stored checkpoints cannot get the rewrite signed.
   */
  EVIDENCE_CHECKPOINT_STATE_FILE: z.string().min(1).optional(),
  /**
   * The verifier key (`<origin>+<id>+<key>`, printed by evidence:keygen). When set, the API
   * publishes only checkpoints that verify with it, never a row someone else inserted.
   */
  EVIDENCE_VERIFIER_KEY: z
    .string()
    .regex(/^[^\s+]+\+[0-9a-f]{8}\+[A-Za-z0-9+/]+=*$/, 'must be a verifier key <origin>+<8 hex>+<base64>')
    .optional(),
  /** How often the worker signs and witnesses a checkpoint (RELIABILITY F19: at most 10 minutes). */
  EVIDENCE_CHECKPOINT_INTERVAL_SECONDS: intFrom(10, 3600).default(600),
  /** RFC 3161 time-stamping authority that also witnesses each checkpoint (optional). */
  EVIDENCE_TSA_URL: url(['https:', 'http:']).optional(),
  /** WeCom group the app created (appchat/create) where checkpoints are posted (optional). */
  WECOM_CHECKPOINT_CHATID: z
    .string()
    .regex(/^[0-9a-zA-Z]{1,32}$/, 'must be a chatid of 1-32 letters or digits')
    .optional(),
  /** Group robot webhook key where checkpoints are posted (optional; a secret). */
  WECOM_CHECKPOINT_WEBHOOK_KEY: z
    .string()
    .regex(/^[A-Za-z0-9-]{8,128}$/, 'must be the key= value of the robot webhook URL (8 to 128 letters, digits or -)')
    .optional(),
  /**
   * Key of the HMAC-SHA256 under which a phone number or ID number a recruiter enters (to recognise
   * a re-applicant) is kept (DECISIONS 10): never a plain hash. Optional; without it HireLedger
   * refuses to store either. A secret: changing it makes earlier entries unmatchable.
   */
  CANDIDATE_IDENTIFIER_HMAC_KEY: z.string().min(32, 'must be a random secret of at least 32 characters').optional(),
  /**
   * Key of the HMAC-SHA256 that signs the links to the candidate's offer acceptance page
   * (docs/acceptance.md): at least 32 bytes. Optional; without it no offer link can be made or
   * checked, and the page's API answers 503 not_configured. A secret: changing it voids every link
   * not yet used.
   */
  OFFER_LINK_SECRET: z
    .string()
    .refine((v) => Buffer.byteLength(v, 'utf8') >= 32, 'must be a random secret of at least 32 bytes')
    .optional(),
  /** Where candidates reach the API from outside (https://hire.example.com): offer links point at `<it>/h5/offer.html`. */
  PUBLIC_BASE_URL: url(['https:', 'http:'])
    .refine((v) => {
      const u = new URL(v);
      return u.search === '' && u.hash === '' && u.username === '' && u.password === '';
    }, 'must be a plain base URL (no query, fragment or credentials)')
    .optional(),
  /**
   * The one-week feedback questionnaire (reminders, issue 10): the form HR runs it in (腾讯问卷, a
   * WeCom 微文档 form, …); the reminder links to it with `offer=<offer id>` added. Unset: no
   * feedback reminder is made (a link to a page that does not exist is worse than none).
   */
  FEEDBACK_FORM_URL: url(['https:', 'http:']).optional(),
  /**
   * The chat archive (会话内容存档, src/conversations/archive): WeCom's Finance SDK library
   * (libWeWorkFinanceSdk_C.so, glibc only; shipped by the deployment, WeCom offers no registry).
   * Unset: the channel is off, and /health and the completeness report say so.
   */
  MSGAUDIT_SDK_LIBRARY: z.string().min(1).optional(),
  /** The chat archive's own Secret (not the app's). Needed when MSGAUDIT_SDK_LIBRARY is set. */
  MSGAUDIT_SECRET: z.string().min(1).optional(),
  /** RSA private keys by publickey_ver: a directory of `<ver>.pem` files (or one such file). Needed when MSGAUDIT_SDK_LIBRARY is set. */
  MSGAUDIT_PRIVATE_KEYS: z.string().min(1).optional(),
  /** Optional proxy for the SDK (`socks5://host:port` or `http://host:port`) and its `user:pass`. */
  MSGAUDIT_PROXY: url(['socks5:', 'http:', 'https:']).optional(),
  MSGAUDIT_PROXY_PASSWORD: z.string().min(1).optional(),
  /** Seconds between scheduled pulls (msgaudit_notify pulls at once too). WeCom keeps five days. */
  MSGAUDIT_PULL_INTERVAL_SECONDS: intFrom(30, 86400).default(300),
  /**
   * Where conversation media (KF media/get, chat archive files) is kept, content-addressed by
   * SHA-256 within each candidate (DECISIONS 11): `pg` in PostgreSQL, `fs` in files under MEDIA_DIR.
   */
  MEDIA_STORE: z.enum(['fs', 'pg']).default('pg'),
  /** The directory of MEDIA_STORE=fs (a persistent, backed-up volume). */
  MEDIA_DIR: z.string().min(1).optional(),
  /** Largest media object kept; larger ones are recorded as refused, with their size. WeCom's own KF cap is 20 MB (file). */
  MEDIA_MAX_BYTES: intFrom(1024, 1073741824).default(20971520),
  /** Largest message text kept in a record, in UTF-8 bytes; longer text is cut there and kept whole as media. */
  MESSAGE_TEXT_MAX_BYTES: intFrom(256, 1048576).default(16384),
  /** Seconds between reminder sweeps (docs/reminders.md): the longest a wiped Redis delays a due reminder. */
  REMINDERS_SWEEP_SECONDS: intFrom(5, 600).default(30),
  /**
   * Seconds a reminder may stay `sending` before the sweeper settles it as `outcome_unknown` (never
   * re-sent). Longer than the WeCom client's longest request with its retries.
   */
  REMINDERS_SENDING_STALE_SECONDS: intFrom(60, 3600).default(300),
  PG_POOL_MAX: intFrom(1, 200).default(10),
  /** The worker's statement timeout (PostgreSQL cancels a statement running longer). */
  PG_STATEMENT_TIMEOUT_MS: intFrom(100, 600000).default(5000),
  /**
   * The API's statement timeout. Statements on the callback path take milliseconds and WeCom gives
   * up after 5 s, so one stuck on a sick database is cancelled long before (RELIABILITY F14). The
   * pool's client-side query timeout is this plus 500 ms: it ends a query whose connection went
   * silent, which PostgreSQL cannot cancel because it never sees it (infra/db/pool.ts).
   */
  PG_API_STATEMENT_TIMEOUT_MS: intFrom(100, 600000).default(1000),
  /** Longest wait for a pooled PostgreSQL connection (a free one, or a new one opened), ms. */
  PG_CONNECT_TIMEOUT_MS: intFrom(100, 60000).default(1000),
  /** PostgreSQL ends a session left idle inside a transaction this long (its locks released), ms. */
  PG_IDLE_IN_TRANSACTION_TIMEOUT_MS: intFrom(1000, 3600000).default(15000),
  /** Longest wait for a Redis answer on the API's connection, ms (the worker's blocking connection has none). */
  REDIS_COMMAND_TIMEOUT_MS: intFrom(100, 60000).default(1000),
  /** Longest wait for a Redis connection to open, ms. */
  REDIS_CONNECT_TIMEOUT_MS: intFrom(100, 60000).default(2000),
  /**
   * A callback whose commit the ledger has not confirmed within this many ms of its arrival is
   * answered 503, so WeCom (which gives up at 5 s) retries it; a commit that lands later is
   * matched by the retry's dedupe key and answered 200.
   */
  CALLBACK_STORE_TIMEOUT_MS: intFrom(100, 4500).default(2000),
  SHUTDOWN_GRACE_MS: intFrom(0, 600000).default(10000),
});

export type Config = Readonly<z.infer<typeof schema>>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parse an environment (defaults to process.env); throws ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const input: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    // An empty string in .env means "not set", so defaults apply and required ones are reported missing.
    if (value !== undefined && value !== '') input[key] = value;
  }
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = issue.path.join('.') || '(environment)';
      const missing = issue.code === 'invalid_type' && input[name] === undefined;
      return missing ? `${name} is required but not set` : `${name} ${issue.message}`;
    });
    throw new ConfigError(problems);
  }
  return Object.freeze(parsed.data);
}

/** For entrypoints: read `.env` into process.env (the environment wins), load, or print the problems and exit(1). */
export function loadConfigOrExit(env: Record<string, string | undefined> = process.env): Config {
  // `.env` fills in what the environment leaves unset, before anything is parsed (src/config/dotenv.ts).
  if (env === process.env) loadDotEnvOnce();
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}
