import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Pool, PoolClient } from 'pg';

/**
 * Media of conversations (KF media/get, the chat archive's GetMediaData), stored content-addressed
 * by SHA-256 WITHIN its owner, a candidate's opaque id (DECISIONS 11): the same file sent twice by
 * one candidate is one object; the same file from two candidates is two, so erasing one person's
 * media never touches another's.
 *
 * Two back ends behind one interface (`MEDIA_STORE`): `pg` keeps the bytes in
 * `conversation_media.data`; `fs` writes them to `<MEDIA_DIR>/<corp>/<owner>/<sha[0:2]>/<sha>`
 * (temporary file, fsync, rename: a reader never sees half a file) and keeps the same row without
 * the bytes. Either way `put` inserts the row on the caller's transaction, the one that appends
 * the conversation.media record referring to it, so a stored object is always evidenced. A file
 * written by a transaction that then rolled back is left behind, harmless: the next attempt writes
 * the same bytes to the same name.
 */

export type MediaStoreKind = 'fs' | 'pg';

export interface MediaOwner {
  corpId: string;
  /** A candidate's opaque id (`cd_…`). */
  owner: string;
}

export interface StoredMedia {
  sha256: string;
  size: number;
  contentType: string;
  /** false when the owner already held these bytes: nothing was written. */
  created: boolean;
}

export interface MediaStore {
  readonly kind: MediaStoreKind;
  /** Largest object accepted (MEDIA_MAX_BYTES); callers refuse larger ones and record why. */
  readonly maxBytes: number;
  /** Stores the bytes for the owner (once per content) on `tx`; throws MediaTooLargeError over the cap. */
  put(tx: PoolClient, owner: MediaOwner, bytes: Buffer, contentType: string): Promise<StoredMedia>;
  /** The bytes of an object, verified against their SHA-256, or null when the owner has none. */
  get(owner: MediaOwner, sha256: string): Promise<{ bytes: Buffer; contentType: string } | null>;
}

export interface MediaStoreConfig {
  kind: MediaStoreKind;
  /** Required for `fs`. */
  dir?: string;
  maxBytes: number;
}

export class MediaTooLargeError extends Error {
  constructor(
    readonly size: number,
    readonly maxBytes: number,
  ) {
    super(`media of ${size} bytes is over the cap of ${maxBytes} bytes (MEDIA_MAX_BYTES)`);
    this.name = 'MediaTooLargeError';
  }
}

/** The stored object does not hash to its name: the file or row was changed outside HireLedger. */
export class MediaIntegrityError extends Error {
  constructor(owner: MediaOwner, sha256: string) {
    super(`media ${sha256} of ${owner.owner} does not match its SHA-256: changed since it was stored`);
    this.name = 'MediaIntegrityError';
  }
}

const SHA256 = /^[0-9a-f]{64}$/;
const OWNER = /^[a-z]{2}_[0-9a-f]{32}$/;
const CORP = /^[A-Za-z0-9_-]{1,64}$/;

export function sha256Of(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function checkOwner(o: MediaOwner): void {
  // Both become path segments of the fs store: only these shapes, never `..` or a slash.
  if (!CORP.test(o.corpId)) throw new TypeError('media owner: corp id of letters, digits, _ and - expected');
  if (!OWNER.test(o.owner)) throw new TypeError('media owner: an opaque id (cd_ and 32 hex digits) expected');
}

/** A content type fit for the row: WeCom's header, or octet-stream when it is missing or odd. */
function cleanContentType(ct: string): string {
  const t = ct.trim();
  return t.length > 0 && t.length <= 255 && /^[\x20-\x7e]+$/.test(t) ? t : 'application/octet-stream';
}

export function createMediaStore(pool: Pick<Pool, 'query'>, config: MediaStoreConfig): MediaStore {
  if (!Number.isSafeInteger(config.maxBytes) || config.maxBytes < 1)
    throw new TypeError('MEDIA_MAX_BYTES must be a positive integer');
  if (config.kind === 'fs' && !config.dir) throw new TypeError('MEDIA_STORE=fs needs MEDIA_DIR');
  const dir = config.dir ?? '';
  const pathOf = (o: MediaOwner, sha: string) => join(dir, o.corpId, o.owner, sha.slice(0, 2), sha);

  async function writeFileDurably(path: string, bytes: Buffer): Promise<void> {
    const folder = join(path, '..');
    await mkdir(folder, { recursive: true });
    const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    // The rename itself is durable once the directory is flushed.
    const dh = await open(folder, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }

  return {
    kind: config.kind,
    maxBytes: config.maxBytes,

    async put(tx, owner, bytes, contentType) {
      checkOwner(owner);
      if (bytes.length > config.maxBytes) throw new MediaTooLargeError(bytes.length, config.maxBytes);
      const sha256 = sha256Of(bytes);
      const type = cleanContentType(contentType);
      const { rows } = await tx.query<{ content_type: string }>(
        'SELECT content_type FROM conversation_media WHERE corp_id = $1 AND owner = $2 AND sha256 = $3',
        [owner.corpId, owner.owner, sha256],
      );
      if (rows[0]) return { sha256, size: bytes.length, contentType: rows[0].content_type, created: false };
      if (config.kind === 'fs') await writeFileDurably(pathOf(owner, sha256), bytes);
      // A concurrent first put of the same bytes waits here on the key, then inserts nothing.
      const inserted = await tx.query(
        `INSERT INTO conversation_media (corp_id, owner, sha256, size, content_type, store, data)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (corp_id, owner, sha256) DO NOTHING`,
        [owner.corpId, owner.owner, sha256, bytes.length, type, config.kind, config.kind === 'pg' ? bytes : null],
      );
      return { sha256, size: bytes.length, contentType: type, created: inserted.rowCount === 1 };
    },

    async get(owner, sha256) {
      checkOwner(owner);
      if (!SHA256.test(sha256)) return null;
      const { rows } = await pool.query<{ content_type: string; store: MediaStoreKind; data: Buffer | null }>(
        'SELECT content_type, store, data FROM conversation_media WHERE corp_id = $1 AND owner = $2 AND sha256 = $3',
        [owner.corpId, owner.owner, sha256],
      );
      const row = rows[0];
      if (!row) return null;
      const bytes = row.store === 'pg' ? row.data : await readFile(pathOf(owner, sha256)).catch(() => null);
      if (!bytes) return null;
      if (sha256Of(bytes) !== sha256) throw new MediaIntegrityError(owner, sha256);
      return { bytes, contentType: row.content_type };
    },
  };
}
