import { WecomNetworkError } from './errors';
import type { WecomHttp } from './http';
import type { MediaFile } from './types';

/**
 * media/get (doc 90254): a temporary file as bytes. WeCom answers errors (40007 …) as a JSON body with
 * HTTP 200, so the Content-Type decides which one came back; WecomHttp turns the JSON into WecomApiError.
 */
export interface MediaApi {
  get(mediaId: string): Promise<MediaFile>;
}

export function createMediaApi(http: WecomHttp): MediaApi {
  return {
    async get(mediaId) {
      const res = await http.raw({ method: 'GET', path: 'media/get', query: { media_id: mediaId }, idempotent: true });
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
