/**
 * GET /cgi-bin/media/get (doc 90254): the file bytes with Content-Type and Content-disposition, or a JSON
 * error (40007) with Content-Type application/json — clients must check the content type before treating
 * the body as a file.
 */
import type { FastifyInstance } from 'fastify';
import type { SandboxContext } from '../actions';
import { WecomApiError } from '../errors';
import { queryOf } from './common';

function contentDisposition(filename: string, mediaId: string): string {
  const ascii = /^[\x20-\x7e]+$/.test(filename) && !filename.includes('"');
  const ext = /\.[A-Za-z0-9]+$/.exec(filename)?.[0] ?? '';
  const fallback = ascii ? filename : `${mediaId}${ext}`;
  return `attachment; filename="${fallback}"${ascii ? '' : `; filename*=UTF-8''${encodeURIComponent(filename)}`}`;
}

export function registerMediaRoutes(app: FastifyInstance, ctx: SandboxContext): void {
  app.get('/cgi-bin/media/get', async (req, reply) => {
    const { media_id } = queryOf(req);
    if (!media_id) throw new WecomApiError(41006);
    const m = ctx.state.media.get(media_id);
    if (!m) throw new WecomApiError(40007);
    return reply
      .header('Content-Type', m.content_type)
      .header('Content-disposition', contentDisposition(m.filename, m.media_id))
      .header('Content-Length', m.bytes.length)
      .header('Cache-Control', 'no-cache, must-revalidate')
      .send(m.bytes);
  });
}
