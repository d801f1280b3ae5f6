/** Small helpers shared by the /cgi-bin route modules. */
import type { FastifyRequest } from 'fastify';
import { isRecord } from '../applydata';
import { WecomApiError } from '../errors';

export type Json = Record<string, unknown>;

/** Query string as WeCom reads it: every value a string (repeated keys: the first one). */
export function queryOf(req: FastifyRequest): Record<string, string | undefined> {
  const q = req.query;
  const out: Record<string, string | undefined> = {};
  if (isRecord(q)) {
    for (const [k, v] of Object.entries(q)) {
      if (typeof v === 'string') out[k] = v;
      else if (Array.isArray(v) && typeof v[0] === 'string') out[k] = v[0];
    }
  }
  return out;
}

/** JSON body of a POST API; anything that is not a JSON object is WeCom's 47001 data format error. */
export function bodyOf(req: FastifyRequest): Json {
  if (!isRecord(req.body)) throw new WecomApiError(47001);
  return req.body;
}

export function optString(body: Json, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  throw new WecomApiError(40058, `${key} must be a string`);
}

/** Integers may arrive as numbers or numeric strings (WeCom is lenient; so are we). */
export function optInt(body: Json, key: string): number | undefined {
  const v = body[key];
  if (v === undefined || v === null || v === '') return undefined;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n)) throw new WecomApiError(40058, `${key} must be an integer`);
  return n;
}

export function splitIds(v: string | undefined): string[] {
  if (!v) return [];
  return v
    .split('|')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** Deterministic JSON (sorted keys) used as the duplicate-check key. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (isRecord(v)) {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}
