import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import type { Decision, JsonValue } from '../evidence';
import { OFFER_ID } from '../offers';
import { HIRELEDGER_ACTOR } from '../platform/names';
import { LinkRefusal, OfferLinkConfigError, OfferLinkIssueError } from './errors';
import {
  ACCEPTANCE_KINDS,
  ACCEPTANCE_SOURCE,
  ACCEPTANCE_SOURCE_REFS,
  ACCEPTANCE_STREAMS,
  OFFER_LINK_ID,
  OFFER_PAGE_PATH,
} from './names';

/**
 * Offer links: signed, expiring, single-use tokens for the candidate's H5 acceptance page
 * (docs/acceptance.md).
 *
 * The token is self-contained: base64url of the claims (link id, offer id, version, content hash,
 * expiry, corp) followed by their HMAC-SHA256 under OFFER_LINK_SECRET. So a forged, altered,
 * guessed or expired token is refused from the token alone, in constant time, before the database
 * is asked anything (a guesser cannot even make us read a row). The token is derived from the
 * secret and the row, never stored (only its SHA-256, to find the row), so issuing the same link
 * again rebuilds the same URL.
 */

export interface OfferLinks {
  /** Makes a link for one approved, sent offer version; idempotent per (corp, offer, version, key). */
  issue(args: {
    corpId: string;
    offerId: string;
    version: number;
    contentSha256: string;
    candidateId: string;
    expiresAt: Date;
    key: string;
  }): Promise<{ linkId: string; url: string }>;
}

/** What a valid token says. */
export interface LinkClaims {
  linkId: string;
  corpId: string;
  offerId: string;
  version: number;
  contentSha256: string;
  expiresAt: Date;
}

/** The stored link, found by a valid token. */
export interface LinkRow {
  id: string;
  corp_id: string;
  offer_id: string;
  version: number;
  content_sha256: string;
  candidate_id: string;
  expires_at: Date;
  first_viewed_at: Date | null;
  used_at: Date | null;
  used_outcome: 'accepted' | 'declined' | null;
}

type Transact = <T>(work: (tx: PoolClient) => Promise<Decision<T>>) => Promise<{ result: T }>;

export interface OfferLinksDeps {
  db: Pick<Pool, 'query'>;
  /** The ledger's decision path (`ledger.transact`). */
  transact: Transact;
  /** OFFER_LINK_SECRET (at least 32 bytes); undefined: every issue and check fails loudly. */
  secret: string | undefined;
  /** PUBLIC_BASE_URL: where candidates reach the API (https in production). */
  publicBaseUrl: string | undefined;
  now?: () => number;
}

/** Format byte, then what the MAC covers; a new layout is a new format byte, old links keep verifying. */
const FORMAT = 1;
/** Domain separation: this key's MACs mean nothing anywhere else. */
const MAC_CONTEXT = Buffer.from('hireledger.offer-link.v1\n', 'utf8');
const MAC_BYTES = 32;
/** format, link id, offer id, version, content hash, expiry (ms, 48 bits), corp length. */
const FIXED_BYTES = 1 + 16 + 16 + 4 + 32 + 6 + 1;
const CORP_ID = /^[A-Za-z0-9_-]{1,64}$/;
const HASH = /^[0-9a-f]{64}$/;
/** Longest token (a 64-character corp id): base64url of 172 bytes. */
export const MAX_TOKEN_CHARS = 240;

export function secretKey(secret: string | undefined): Buffer {
  if (secret === undefined) throw new OfferLinkConfigError('OFFER_LINK_SECRET');
  const key = Buffer.from(secret, 'utf8');
  if (key.length < 32) throw new OfferLinkConfigError('OFFER_LINK_SECRET (at least 32 bytes)');
  return key;
}

function claimBytes(c: LinkClaims): Buffer {
  const corp = Buffer.from(c.corpId, 'utf8');
  const b = Buffer.alloc(FIXED_BYTES + corp.length);
  let o = b.writeUInt8(FORMAT, 0);
  o += Buffer.from(c.linkId.slice(3), 'hex').copy(b, o);
  o += Buffer.from(c.offerId.slice(3), 'hex').copy(b, o);
  o = b.writeUInt32BE(c.version, o);
  o += Buffer.from(c.contentSha256, 'hex').copy(b, o);
  o = b.writeUIntBE(c.expiresAt.getTime(), o, 6);
  o = b.writeUInt8(corp.length, o);
  corp.copy(b, o);
  return b;
}

function mac(key: Buffer, body: Buffer): Buffer {
  return createHmac('sha256', key).update(MAC_CONTEXT).update(body).digest();
}

/** The token of a link: deterministic in the secret and the claims. */
export function signToken(key: Buffer, c: LinkClaims): string {
  const body = claimBytes(c);
  return Buffer.concat([body, mac(key, body)]).toString('base64url');
}

export function tokenSha256(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * The claims of a token whose MAC verifies, else `link_invalid` (malformed, altered, forged,
 * guessed: one answer, so a guesser learns nothing). Touches nothing but the secret.
 */
export function verifyToken(key: Buffer, token: string): LinkClaims {
  if (token.length > MAX_TOKEN_CHARS || !/^[A-Za-z0-9_-]+$/.test(token)) throw new LinkRefusal('link_invalid');
  const raw = Buffer.from(token, 'base64url');
  // Only the canonical encoding: no second spelling of one token (its SHA-256 finds the row).
  if (raw.toString('base64url') !== token || raw.length < FIXED_BYTES + 1 + MAC_BYTES) throw new LinkRefusal('link_invalid');
  const body = raw.subarray(0, raw.length - MAC_BYTES);
  const given = raw.subarray(raw.length - MAC_BYTES);
  // The MAC first, in constant time: nothing of an unauthenticated token is interpreted.
  if (!timingSafeEqual(mac(key, body), given)) throw new LinkRefusal('link_invalid');
  const corpLength = body.readUInt8(FIXED_BYTES - 1);
  if (body.readUInt8(0) !== FORMAT || body.length !== FIXED_BYTES + corpLength) throw new LinkRefusal('link_invalid');
  return {
    linkId: `ol_${body.subarray(1, 17).toString('hex')}`,
    offerId: `of_${body.subarray(17, 33).toString('hex')}`,
    version: body.readUInt32BE(33),
    contentSha256: body.subarray(37, 69).toString('hex'),
    expiresAt: new Date(body.readUIntBE(69, 6)),
    corpId: body.subarray(FIXED_BYTES).toString('utf8'),
  };
}

export function offerPageUrl(publicBaseUrl: string | undefined, token: string): string {
  if (publicBaseUrl === undefined) throw new OfferLinkConfigError('PUBLIC_BASE_URL');
  return `${publicBaseUrl.replace(/\/+$/, '')}${OFFER_PAGE_PATH}#t=${token}`;
}

const LINK_COLUMNS =
  'id, corp_id, offer_id, version, content_sha256, candidate_id, expires_at, first_viewed_at, used_at, used_outcome';

/** Longest link lifetime: a formal offer's answer takes days, not months. */
const MAX_LIFETIME_MS = 90 * 24 * 3600_000;

export function createOfferLinks(deps: OfferLinksDeps) {
  const now = () => new Date((deps.now ?? Date.now)());

  function url(row: Pick<LinkRow, 'id' | 'corp_id' | 'offer_id' | 'version' | 'content_sha256' | 'expires_at'>): string {
    const token = signToken(secretKey(deps.secret), claimsOf(row));
    return offerPageUrl(deps.publicBaseUrl, token);
  }

  const links: OfferLinks & {
    /** The row of a verified token (the token's hash must match too), or `link_not_found`. */
    find(claims: LinkClaims, token: string): Promise<LinkRow>;
    verify(token: string, at: Date): LinkClaims;
  } = {
    async issue(args) {
      // Configuration first: a link that could not be checked later is never handed out.
      const key = secretKey(deps.secret);
      offerPageUrl(deps.publicBaseUrl, '');
      if (!CORP_ID.test(args.corpId)) throw new OfferLinkIssueError('corpId is invalid');
      if (!OFFER_ID.test(args.offerId)) throw new OfferLinkIssueError('offerId is not an offer id');
      if (!Number.isSafeInteger(args.version) || args.version < 1 || args.version > 0xffffffff) {
        throw new OfferLinkIssueError('version must be a positive integer');
      }
      if (!HASH.test(args.contentSha256)) throw new OfferLinkIssueError('contentSha256 must be 64 lower-case hex digits');
      if (!(args.expiresAt instanceof Date) || Number.isNaN(args.expiresAt.getTime())) {
        throw new OfferLinkIssueError('expiresAt must be a valid Date');
      }
      if (typeof args.key !== 'string' || args.key.length < 1 || args.key.length > 200) {
        throw new OfferLinkIssueError('key must be 1 to 200 characters');
      }
      const { result } = await deps.transact<LinkRow>(async (tx) => {
        const existing = await byKey(tx, args);
        if (existing) return { result: same(existing, args), entries: [] };
        const at = now();
        // The offer row is held (FOR SHARE) so it cannot move between this check and the commit.
        const { rows } = await tx.query<{
          state: string;
          current_version: number;
          candidate_id: string;
          content_sha256: string;
          approved_content_sha256: string | null;
          deadline: string | null;
        }>(
          `SELECT o.state, o.current_version, o.candidate_id, v.content_sha256, v.approved_content_sha256,
                  v.content->>'acceptance_deadline' AS deadline
             FROM offers o JOIN offer_versions v ON v.offer_id = o.id AND v.version = $3
            WHERE o.corp_id = $1 AND o.id = $2
              FOR SHARE OF o`,
          [args.corpId, args.offerId, args.version],
        );
        const o = rows[0];
        if (!o) throw new OfferLinkIssueError(`offer ${args.offerId} has no version ${args.version}`);
        if (o.state !== 'sent') throw new OfferLinkIssueError(`offer ${args.offerId} is ${o.state}, not sent: no link`);
        if (o.current_version !== args.version) {
          throw new OfferLinkIssueError(`version ${args.version} is not the offer's current version ${o.current_version}`);
        }
        if (o.content_sha256 !== args.contentSha256 || o.approved_content_sha256 !== args.contentSha256) {
          throw new OfferLinkIssueError('contentSha256 is not the approved, sent content hash of that version');
        }
        if (o.candidate_id !== args.candidateId) throw new OfferLinkIssueError("candidateId is not the offer's candidate");
        // A link never outlives the offer's stated deadline (an answer after it is refused anyway).
        let expires = Math.min(args.expiresAt.getTime(), at.getTime() + MAX_LIFETIME_MS);
        if (o.deadline !== null) expires = Math.min(expires, Date.parse(o.deadline));
        if (expires <= at.getTime()) throw new OfferLinkIssueError('the link would already be expired');
        const linkId = `ol_${randomBytes(16).toString('hex')}`;
        const row: LinkRow = {
          id: linkId,
          corp_id: args.corpId,
          offer_id: args.offerId,
          version: args.version,
          content_sha256: args.contentSha256,
          candidate_id: args.candidateId,
          expires_at: new Date(expires),
          first_viewed_at: null,
          used_at: null,
          used_outcome: null,
        };
        const token = signToken(key, claimsOf(row));
        // A concurrent issue with the same key waits on the unique index, then finds this row.
        const { rowCount } = await tx.query(
          `INSERT INTO offer_links (id, corp_id, offer_id, version, content_sha256, candidate_id, idempotency_key,
                                    token_sha256, expires_at, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (corp_id, offer_id, version, idempotency_key) DO NOTHING`,
          [
            linkId,
            args.corpId,
            args.offerId,
            args.version,
            args.contentSha256,
            args.candidateId,
            args.key,
            tokenSha256(token),
            row.expires_at,
            at,
          ],
        );
        if (rowCount === 0) {
          const raced = await byKey(tx, args);
          if (!raced) throw new Error('offer link vanished after a conflicting insert');
          return { result: same(raced, args), entries: [] };
        }
        const payload: { [key: string]: JsonValue } = {
          link_id: linkId,
          offer_id: args.offerId,
          candidate_id: args.candidateId,
          version: args.version,
          content_sha256: args.contentSha256,
          expires_at: row.expires_at.toISOString(),
          requested_expires_at: args.expiresAt.toISOString(),
          key: args.key,
        };
        return {
          result: row,
          entries: [
            {
              stream: ACCEPTANCE_STREAMS.candidate(args.candidateId),
              kind: ACCEPTANCE_KINDS.linkIssued,
              occurredAt: at,
              actor: HIRELEDGER_ACTOR,
              source: ACCEPTANCE_SOURCE,
              sourceRef: ACCEPTANCE_SOURCE_REFS.issued(linkId),
              payload,
              raw: null,
            },
          ],
        };
      });
      return { linkId: result.id, url: url(result) };
    },

    verify(token: string, at: Date): LinkClaims {
      const claims = verifyToken(secretKey(deps.secret), token);
      if (claims.expiresAt.getTime() <= at.getTime()) throw new LinkRefusal('link_expired');
      return claims;
    },

    async find(claims: LinkClaims, token: string): Promise<LinkRow> {
      const { rows } = await deps.db.query<LinkRow>(
        `SELECT ${LINK_COLUMNS} FROM offer_links WHERE corp_id = $1 AND id = $2 AND token_sha256 = $3`,
        [claims.corpId, claims.linkId, tokenSha256(token)],
      );
      const row = rows[0];
      if (!row) throw new LinkRefusal('link_not_found');
      return row;
    },
  };

  async function byKey(tx: PoolClient, args: { corpId: string; offerId: string; version: number; key: string }) {
    const { rows } = await tx.query<LinkRow>(
      `SELECT ${LINK_COLUMNS} FROM offer_links WHERE corp_id = $1 AND offer_id = $2 AND version = $3 AND idempotency_key = $4`,
      [args.corpId, args.offerId, args.version, args.key],
    );
    return rows[0] ?? null;
  }

  /** The same key again must mean the same link: another hash or candidate under one key is a bug of the caller. */
  function same(row: LinkRow, args: { contentSha256: string; candidateId: string; key: string }): LinkRow {
    if (row.content_sha256 !== args.contentSha256 || row.candidate_id !== args.candidateId) {
      throw new OfferLinkIssueError(`key ${args.key} already made a link for another content hash or candidate`);
    }
    return row;
  }

  return links;
}

function claimsOf(row: Pick<LinkRow, 'id' | 'corp_id' | 'offer_id' | 'version' | 'content_sha256' | 'expires_at'>): LinkClaims {
  if (!OFFER_LINK_ID.test(row.id)) throw new Error(`not an offer link id: ${row.id}`);
  return {
    linkId: row.id,
    corpId: row.corp_id,
    offerId: row.offer_id,
    version: row.version,
    contentSha256: row.content_sha256,
    expiresAt: row.expires_at,
  };
}

export type OfferLinksImpl = ReturnType<typeof createOfferLinks>;
