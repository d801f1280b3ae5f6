import { constants, createPublicKey, generateKeyPairSync, publicEncrypt, randomBytes, randomInt } from 'node:crypto';
import { appendFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The sandbox's side of the chat archive (会话内容存档): it plays WeCom's archive server for the
 * Finance SDK stand-in (sandbox/archive/finance-sdk-standin.c), writing each chat item the way
 * WeCom's archive serves it (WeCom docs 91774 and 91360, summarised in sandbox/archive/README.md): a per-corp `seq`, the `msgid`, the `publickey_ver` of the public key
 * the admin uploaded, `encrypt_random_key` (a random key, RSA PKCS#1 v1.5 encrypted with that
 * public key, base64) and `encrypt_chat_msg` (the message JSON under the random key, in the
 * stand-in's cipher, which DecryptData in the C library reverses).
 *
 * An independent implementation: it shares no code with src/ (ARCHITECTURE.md), so a bug in
 * HireLedger's reading cannot hide behind the same bug here.
 */

export interface ArchiveKeyPair {
  ver: number;
  publicKeyPem: string;
  /** PKCS#1 `BEGIN RSA PRIVATE KEY`, as `openssl genrsa` writes it (WeCom's FAQ). */
  privateKeyPem: string;
}

export interface ArchiveItem {
  seq: number;
  msgid: string;
  publickey_ver: number;
  encrypt_random_key: string;
  encrypt_chat_msg: string;
}

/** A decrypted archive message (doc 91774): what WeCom's DecryptData gives back. */
export type ArchiveMessage = { msgid: string; [key: string]: unknown };

export interface ArchiveStandInOptions {
  /** The directory the C stand-in was compiled to read (STANDIN_DATA_DIR). */
  dir: string;
  corpId: string;
  /** The chat archive's own Secret; the stand-in refuses GetChatData under another one. */
  secret: string;
  /**
   * Where the private halves are kept as `<ver>.pem` (what HireLedger's MSGAUDIT_PRIVATE_KEYS
   * names): read at start so a restarted sandbox keeps its versions, written by rotateKey.
   */
  keysDir?: string;
}

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK = (1n << 64n) - 1n;

function fnv1a64(h: bigint, bytes: Uint8Array): bigint {
  let x = h;
  for (const b of bytes) x = ((x ^ BigInt(b)) * FNV_PRIME) & MASK;
  return x;
}

/** The stand-in's symmetric cipher (the C file's header describes it); not WeCom's, which is unpublished. */
export function standInEncrypt(randomKey: string, plaintext: Buffer): string {
  const key = Buffer.from(randomKey, 'utf8');
  const nonce = randomBytes(16);
  let x = fnv1a64(fnv1a64(FNV_OFFSET, key), nonce);
  if (x === 0n) x = 1n;
  const out = Buffer.alloc(plaintext.length);
  let block = 0n;
  for (let i = 0; i < plaintext.length; i++) {
    if (i % 8 === 0) {
      x ^= x >> 12n;
      x = (x ^ (x << 25n)) & MASK;
      x ^= x >> 27n;
      block = (x * 0x2545f4914f6cdd1dn) & MASK;
    }
    out[i] = (plaintext[i] as number) ^ Number((block >> BigInt(8 * (i % 8))) & 0xffn);
  }
  const h = fnv1a64(fnv1a64(fnv1a64(FNV_OFFSET, key), nonce), plaintext);
  const tag = Buffer.alloc(8);
  tag.writeBigUInt64LE(h);
  return Buffer.concat([nonce, out, tag]).toString('base64');
}

const KEY_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function randomKeyString(): string {
  let s = '';
  for (let i = 0; i < 32; i++) s += KEY_ALPHABET[randomInt(KEY_ALPHABET.length)];
  return s;
}

/** A WeCom-looking msgid: digits, the second, and `_external` when an external contact takes part. */
export function archiveMsgId(external: boolean, at: number): string {
  const digits = Array.from({ length: 19 }, (_, i) => (i === 0 ? 1 + randomInt(9) : randomInt(10))).join('');
  return `${digits}_${Math.floor(at / 1000)}${external ? '_external' : ''}`;
}

const isExternal = (id: string) => /^w[mo]/.test(id);

export class ArchiveStandIn {
  private readonly keys = new Map<number, ArchiveKeyPair>();
  private currentVer: number | null = null;
  private seq = 0;
  private readonly dataFile: string;
  private readonly controlFile: string;
  readonly mediaDir: string;
  readonly written: ArchiveItem[] = [];

  constructor(readonly opts: ArchiveStandInOptions) {
    mkdirSync(opts.dir, { recursive: true });
    this.mediaDir = join(opts.dir, 'media');
    mkdirSync(this.mediaDir, { recursive: true });
    this.dataFile = join(opts.dir, `${opts.corpId}.jsonl`);
    this.controlFile = join(opts.dir, `${opts.corpId}.control`);
    writeFileSync(join(opts.dir, `${opts.corpId}.secret`), `${opts.secret}\n`);
    if (opts.keysDir) {
      mkdirSync(opts.keysDir, { recursive: true });
      for (const name of readdirSync(opts.keysDir)) {
        const match = /^(\d+)\.pem$/.exec(name);
        if (!match) continue;
        const privateKeyPem = readFileSync(join(opts.keysDir, name), 'utf8');
        const publicKeyPem = createPublicKey(privateKeyPem).export({ type: 'spki', format: 'pem' }).toString();
        const ver = Number(match[1]);
        this.keys.set(ver, { ver, publicKeyPem, privateKeyPem });
        this.currentVer = Math.max(this.currentVer ?? 0, ver);
      }
    }
    try {
      // A restarted sandbox continues the corp's seq (seq is the archive's ledger, never reused).
      const lines = readFileSync(this.dataFile, 'utf8').split('\n').filter(Boolean);
      for (const line of lines) this.seq = Math.max(this.seq, (JSON.parse(line) as ArchiveItem).seq);
    } catch {
      writeFileSync(this.dataFile, '');
    }
  }

  /**
   * The admin uploads a new public key in the WeCom console: a new `publickey_ver`, used for every
   * item from now on. Returns the key pair; HireLedger is configured with its private half.
   */
  rotateKey(): ArchiveKeyPair {
    const ver = Math.max(0, ...this.keys.keys()) + 1;
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pair: ArchiveKeyPair = {
      ver,
      publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      privateKeyPem: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    };
    this.keys.set(ver, pair);
    this.currentVer = ver;
    if (this.opts.keysDir) writeFileSync(join(this.opts.keysDir, `${ver}.pem`), pair.privateKeyPem, { mode: 0o600 });
    return pair;
  }

  get keyVersion(): number | null {
    return this.currentVer;
  }

  /** Writes one message as the next chat item, encrypted as WeCom does (or with a deliberate fault). */
  append(
    message: Omit<ArchiveMessage, 'msgid'> & { msgid?: string },
    fault?: 'unknown_key_version' | 'corrupt_random_key' | 'corrupt_chat_msg' | 'not_json',
  ): ArchiveItem {
    const ver = this.currentVer;
    const pair = ver === null ? undefined : this.keys.get(ver);
    if (!pair || ver === null) throw new Error('no public key uploaded yet: call rotateKey() first');
    const at = typeof message['msgtime'] === 'number' ? message['msgtime'] : Date.now();
    const from = typeof message['from'] === 'string' ? message['from'] : '';
    const tolist = Array.isArray(message['tolist']) ? (message['tolist'] as unknown[]) : [];
    const external = isExternal(from) || tolist.some((t) => typeof t === 'string' && isExternal(t));
    const msgid = message.msgid ?? archiveMsgId(external, at);
    const full = { ...message, msgid };
    const randomKey = randomKeyString();
    const plaintext = fault === 'not_json' ? Buffer.from('{"msgid":"broken', 'utf8') : Buffer.from(JSON.stringify(full), 'utf8');
    let wrapped = publicEncrypt({ key: pair.publicKeyPem, padding: constants.RSA_PKCS1_PADDING }, Buffer.from(randomKey, 'utf8'));
    if (fault === 'corrupt_random_key') wrapped = Buffer.from(wrapped.map((b, i) => (i === 7 ? b ^ 0xff : b)));
    let chat = standInEncrypt(randomKey, plaintext);
    if (fault === 'corrupt_chat_msg') {
      const bytes = Buffer.from(chat, 'base64');
      bytes[20] = (bytes[20] ?? 0) ^ 0x55;
      chat = bytes.toString('base64');
    }
    this.seq += 1;
    const item: ArchiveItem = {
      seq: this.seq,
      msgid,
      publickey_ver: fault === 'unknown_key_version' ? ver + 100 : ver,
      encrypt_random_key: wrapped.toString('base64'),
      encrypt_chat_msg: chat,
    };
    // Field order as WeCom's sample; the stand-in finds "seq" in each line.
    appendFileSync(this.dataFile, `${JSON.stringify(item)}\n`);
    this.written.push(item);
    return item;
  }

  /** A 1:1 text message between a member and an external contact (or two members). */
  text(input: { from: string; to: string; content: string; at?: number }): ArchiveItem {
    return this.append({
      action: 'send',
      from: input.from,
      tolist: [input.to],
      roomid: '',
      msgtime: input.at ?? Date.now(),
      msgtype: 'text',
      text: { content: input.content },
    });
  }

  /** The external contact agreed (or refused) to have the conversation archived. */
  consent(input: { external: string; member: string; agree: boolean; at?: number }): ArchiveItem {
    const at = input.at ?? Date.now();
    const msgtype = input.agree ? 'agree' : 'disagree';
    return this.append({
      action: 'send',
      from: input.external,
      tolist: [input.member],
      roomid: '',
      msgtime: at,
      msgtype,
      [msgtype]: { userid: input.external, [`${msgtype}_time`]: at },
    });
  }

  /** An image message; its bytes are served by GetMediaData under `sdkfileid`. */
  image(input: { from: string; to: string; bytes: Buffer; at?: number }): ArchiveItem {
    const sdkfileid = randomBytes(24).toString('base64url');
    writeFileSync(join(this.mediaDir, sdkfileid), input.bytes);
    return this.append({
      action: 'send',
      from: input.from,
      tolist: [input.to],
      roomid: '',
      msgtime: input.at ?? Date.now(),
      msgtype: 'image',
      image: { md5sum: '', filesize: input.bytes.length, sdkfileid },
    });
  }

  /**
   * Items that were in the archive and are gone (WeCom keeps five days): their seqs are used and
   * never served, so a puller that had not reached them sees the seq jump.
   */
  expire(count: number): void {
    this.seq += count;
  }

  /** Fault injection for the next GetChatData calls: a delay, or an SDK error code (e.g. 10001 network). */
  control(opts: { delayMs?: number; failCode?: number }): void {
    const lines: string[] = [];
    if (opts.delayMs) lines.push(`delay_ms=${opts.delayMs}`);
    if (opts.failCode) lines.push(`fail_code=${opts.failCode}`);
    if (lines.length === 0) rmSync(this.controlFile, { force: true });
    else writeFileSync(this.controlFile, `${lines.join('\n')}\n`);
  }
}
