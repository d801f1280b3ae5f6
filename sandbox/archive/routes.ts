/**
 * Admin API of the chat-archive stand-in, under /sandbox/admin/archive (not part of WeCom): a
 * recruiter's or a candidate's 1:1 message, a consent, a key rotation, written to the archive the
 * Finance SDK stand-in serves. Like WeCom, each write is followed by a `msgaudit_notify` callback
 * (AgentID 2000004), at most one per 15 seconds (WeCom: "at most once every 15 s").
 */
import type { FastifyInstance } from 'fastify';
import { AdminError } from '../actions';
import type { ArchiveStandIn } from './writer';

export const MSGAUDIT_AGENT_ID = '2000004';
const NOTIFY_INTERVAL_MS = 15_000;

export function msgauditNotifyXml(corpId: string, at = Date.now()): string {
  return (
    `<xml><ToUserName><![CDATA[${corpId}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>` +
    `<CreateTime>${Math.floor(at / 1000)}</CreateTime><MsgType><![CDATA[event]]></MsgType>` +
    `<AgentID>${MSGAUDIT_AGENT_ID}</AgentID><Event><![CDATA[msgaudit_notify]]></Event></xml>`
  );
}

/** Fires msgaudit_notify like WeCom: at once, or at the end of the current 15 s window (once). */
export function notifier(fire: () => void, intervalMs = NOTIFY_INTERVAL_MS): { poke(): void; stop(): void } {
  let last = 0;
  let timer: NodeJS.Timeout | undefined;
  return {
    poke() {
      if (timer) return;
      const wait = Math.max(0, last + intervalMs - Date.now());
      timer = setTimeout(() => {
        timer = undefined;
        last = Date.now();
        fire();
      }, wait);
    },
    stop() {
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}

function text(body: unknown, name: string, max = 4000): string {
  const v = (body as Record<string, unknown> | null)?.[name];
  if (typeof v !== 'string' || v.length === 0 || v.length > max)
    throw new AdminError(400, `${name} is required (1 to ${max} characters)`);
  return v;
}

export function registerArchiveRoutes(
  app: FastifyInstance,
  archive: ArchiveStandIn,
  notify: () => void,
  /** A consent item was written: msgaudit/check_single_agree answers it from now on. */
  onConsent?: (c: { external: string; member: string; agree: boolean; atMs: number }) => void,
): void {
  app.get('/sandbox/admin/archive', async () => ({
    ok: true,
    corpid: archive.opts.corpId,
    dir: archive.opts.dir,
    publickey_ver: archive.keyVersion,
    items: archive.written.length,
  }));
  app.post('/sandbox/admin/archive/text', async (req) => {
    const item = archive.text({
      from: text(req.body, 'from', 128),
      to: text(req.body, 'to', 128),
      content: text(req.body, 'content'),
    });
    notify();
    return { ok: true, seq: item.seq, msgid: item.msgid, publickey_ver: item.publickey_ver };
  });
  app.post('/sandbox/admin/archive/consent', async (req) => {
    const agreeRaw = (req.body as Record<string, unknown> | null)?.['agree'];
    const consent = {
      external: text(req.body, 'external', 128),
      member: text(req.body, 'member', 128),
      agree: agreeRaw === true || agreeRaw === 'true',
    };
    const atMs = Date.now();
    const item = archive.consent({ ...consent, at: atMs });
    onConsent?.({ ...consent, atMs });
    notify();
    return { ok: true, seq: item.seq, msgid: item.msgid };
  });
  /** The admin uploads a new public key: items from now on use the new publickey_ver. */
  app.post('/sandbox/admin/archive/rotate-key', async () => {
    const pair = archive.rotateKey();
    return { ok: true, publickey_ver: pair.ver, private_key_pem: pair.privateKeyPem };
  });
}
