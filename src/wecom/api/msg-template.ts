import { WecomRequestError } from './errors';
import { WECOM_STREAMS } from '../names';
import { idString, requireKey, sendRecorded, type SendDeps } from './evidence';
import { externalContactIds, type KfApiDeps } from './kf';
import type { MsgTemplateRequest, MsgTemplateResponse, SendOptions } from './types';

/**
 * 企业群发 externalcontact/add_msg_template (doc 92135): the route to a candidate through their recruiter's 1:1
 * chat (DECISIONS 12). WeCom queues the message in the recruiter's client, who confirms it; the answer's msgid
 * identifies that task and `fail_list` names the candidates it could not be queued for. WeCom caps what one
 * customer receives this way at one message per day of the month.
 *
 * Sent and recorded through sendRecorded (evidence.ts), with `repeat: 'refuse'`: add_msg_template has no
 * idempotency key and no duplicate check, so a second request after a timeout or a crash would put a second copy
 * before the recruiter, who could well confirm both. It is therefore never retried once it may have reached
 * WeCom (idempotent: false), and a second call under an idempotency key whose intent is already recorded sends
 * nothing (SendAlreadyAttemptedError): the first attempt's outcome, or its absence, is in the ledger for a person
 * to act on (get_groupmsg_list_v2 shows what WeCom holds).
 */
export interface MsgTemplateApi {
  add(req: MsgTemplateRequest, opts: SendOptions): Promise<MsgTemplateResponse>;
}

const TEXT_MAX_BYTES = 4000;

export function createMsgTemplateApi(d: SendDeps & Pick<KfApiDeps, 'http' | 'contactIds'>): MsgTemplateApi {
  return {
    async add(req, opts) {
      const idempotencyKey = requireKey(opts);
      validate(req);
      const body: MsgTemplateRequest = { ...req, chat_type: 'single' };
      const sender = req.sender.toLowerCase();
      const candidates = [...new Set(req.external_userid)].sort();
      const contactIds = await externalContactIds(d.contactIds, 'externalcontact/add_msg_template', candidates);
      const answer = await sendRecorded(
        d,
        {
          api: 'externalcontact/add_msg_template',
          msgtype: req.text ? 'text' : (req.attachments?.[0]?.msgtype ?? 'text'),
          idempotencyKey,
          request: { ...body },
          // One record per candidate, in the candidate's stream named by their opaque id (DECISIONS 4); the
          // external_userid kept exactly in the erasable payload, the member userid lower-cased (DECISIONS 8).
          recipients: candidates.map((id) => ({
            stream: WECOM_STREAMS.externalContact(contactIds.get(id) as string),
            who: { external_userid: id, sender },
            listedAs: id,
          })),
          repeat: 'refuse',
          rejectedFields: ['fail_list'],
        },
        () =>
          d.http.json<Record<string, unknown>>({
            method: 'POST',
            path: 'externalcontact/add_msg_template',
            body,
            idempotent: false,
          }),
        (raw) => ({
          errcode: raw['errcode'] ?? 0,
          errmsg: raw['errmsg'] ?? '',
          msgid: idString(raw['msgid']),
          fail_list: Array.isArray(raw['fail_list']) ? raw['fail_list'].map(String) : [],
        }),
      );
      return {
        ...answer,
        msgid: idString(answer['msgid']),
        fail_list: Array.isArray(answer['fail_list']) ? answer['fail_list'].map(String) : [],
      };
    },
  };
}

/** Refused before an intent is recorded: these would only earn an errcode. */
function validate(req: MsgTemplateRequest): void {
  const path = 'externalcontact/add_msg_template';
  const ids = req.external_userid;
  if (!Array.isArray(ids) || ids.length === 0 || ids.length > 10_000 || ids.some((id) => typeof id !== 'string' || id === ''))
    throw new WecomRequestError(path, 'external_userid', 'must list 1 to 10000 external_userids');
  if (typeof req.sender !== 'string' || req.sender.trim() === '')
    throw new WecomRequestError(path, 'sender', 'is required (the recruiter who confirms the message)');
  const content = req.text?.content;
  const attachments = req.attachments ?? [];
  if ((typeof content !== 'string' || content === '') && attachments.length === 0)
    throw new WecomRequestError(path, 'text', 'and attachments cannot both be empty');
  if (typeof content === 'string' && Buffer.byteLength(content, 'utf8') > TEXT_MAX_BYTES)
    throw new WecomRequestError(path, 'text.content', `is more than ${TEXT_MAX_BYTES} bytes of UTF-8`);
  if (attachments.length > 9) throw new WecomRequestError(path, 'attachments', 'at most 9');
}
