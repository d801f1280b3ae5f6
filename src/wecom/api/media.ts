import { WecomNetworkError } from './errors';
import type { WecomHttp } from './http';
import type { MediaFile } from './types';

/**
 * media/get (doc 90254): a temporary file as bytes. WeCom answers errors (40007 …) as a JSON body with
 * HTTP 200, so the Content-Type decides which one came back; WecomHttp turns the JSON into WecomApiError.
 */
export interface MediaApi {
  /**
   * `maxBytes`: a larger file is cut off while it arrives (WecomNetworkError `RESPONSE_TOO_LARGE`),
   * never held whole; below 64 KiB the cap is 64 KiB (so an error answer is read), the caller checks.
   */
  get(mediaId: string, opts?: { maxBytes?: number }): Promise<MediaFile>;
}

/** An answer this small is always taken (a JSON error body), whatever `maxBytes` says; callers check the size. */
const MIN_ANSWER_BYTES = 64 * 1024;

export function createMediaApi(http: WecomHttp): MediaApi {
  return {
    async get(mediaId, opts) {
      const res = await http.raw({
        method: 'GET',
        path: 'media/get',
        query: { media_id: mediaId },
        idempotent: true,
        // WeCom's JSON error answer (40007…) is always read whole, however small the cap.
        ...(opts?.maxBytes !== undefined ? { maxBytes: Math.max(opts.maxBytes, MIN_ANSWER_BYTES) } : {}),
      });
      if (res.kind !== 'binary')
        throw new WecomNetworkError('media/get', 'UNEXPECTED_JSON', false, 'expected a file, got a JSON body without errcode');
      return {
        data: res.data,
        contentType: res.headers['content-type'] ?? 'application/octet-stream',
        filename: filenameOf(res.headers['content-disposition']),
      };
    },
  };
}

/** RFC 6266: `filename*=UTF-8''…` (percent-encoded) wins over the plain `filename="…"` fallback. */
export function filenameOf(disposition: string | undefined): string | undefined {
  if (!disposition) return undefined;
  const star = /filename\*\s*=\s*([^']*)'[^']*'([^;]+)/i.exec(disposition);
  if (star?.[2]) {
    try {
      return decodeURIComponent(star[2].trim());
    } catch {
      // fall through to the plain parameter
    }
  }
  const plain = /filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]+))/i.exec(disposition);
  const name = plain?.[1] ?? plain?.[2];
  return name === undefined ? undefined : name.replace(/\\(.)/g, '$1').trim();
}
