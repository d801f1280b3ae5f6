/**
 * Witnessing evidence checkpoints outside the database (DECISIONS 7): the signed checkpoint note (the
 * ledger's signed tree head, < 1 KB) is posted verbatim, under one Chinese heading line, to a WeCom group —
 * through `appchat/send` to a group the app created, or through a group robot's webhook, whichever is
 * configured. Every member of the group then holds a copy in their own WeCom client that nobody with access
 * to HireLedger's database can take back.
 *
 * This module only posts. It returns what the caller must record — WeCom's whole answer (appchat returns no
 * msgid, so the answer and the time are all there is), the time sent, and the request as sent — and never
 * writes to the evidence ledger itself. One witness per corp (DECISIONS 5): build it from that corp's
 * WecomClient and configuration; it holds no other state.
 *
 * Failures are thrown as the client's typed errors: WecomApiError for errcode ≠ 0 (86008 a group another
 * app created, 93000 a wrong or removed webhook key, 45009 …), WecomNetworkError when WeCom could not be
 * reached (`maybeSent` says whether the message may still have been posted — it is never retried then),
 * WecomContentTooLongError when the note would exceed WeCom's 2048 bytes (nothing was sent).
 */
import type { JsonValue } from '../evidence';
import { secretFingerprint, toEvidenceJson, webhookKeyOf, type WecomClient } from './api';

/** The heading line put above the note, so the group's members know what the message is. */
export const CHECKPOINT_HEADING = '【HireLedger 存证检查点】';

export type CheckpointWitnessName = 'wecom_appchat' | 'wecom_webhook';

export interface CheckpointWitnessReceipt {
  /** WeCom's whole answer, parsed with 19-digit ids kept as strings. */
  response: JsonValue;
  /** When the message was handed to WeCom (taken just before the request). */
  sentAt: Date;
  /** What was posted: the API, the body, and for the webhook a fingerprint of the key — never the key. */
  request: JsonValue;
}

export interface CheckpointWitness {
  readonly name: CheckpointWitnessName;
  witness(note: string): Promise<CheckpointWitnessReceipt>;
}

export interface WecomCheckpointWitnessOptions {
  /** The corp's client (only its `appchat` or `webhook` part is used). */
  client: Pick<WecomClient, 'appchat' | 'webhook'>;
  /**
   * WECOM_CHECKPOINT_CHATID: a group this app created with appchat/create (the app's visible scope must be
   * the root department). Give this or `webhookKey`, not both.
   */
  chatid?: string | undefined;
  /** WECOM_CHECKPOINT_WEBHOOK_KEY: the group robot's key (or its whole webhook URL). A secret. */
  webhookKey?: string | undefined;
  /** Replaces CHECKPOINT_HEADING; an empty string posts the note alone. */
  heading?: string;
  /** Epoch milliseconds; injectable for tests. Default Date.now. */
  now?: () => number;
}

export function createWecomCheckpointWitness(opts: WecomCheckpointWitnessOptions): CheckpointWitness {
  const chatid = opts.chatid === undefined || opts.chatid === '' ? undefined : opts.chatid;
  const keyIn = opts.webhookKey === undefined || opts.webhookKey === '' ? undefined : opts.webhookKey;
  if ((chatid === undefined) === (keyIn === undefined)) {
    throw new TypeError('checkpoint witness: configure exactly one of chatid (appchat) and webhookKey (group robot)');
  }
  const now = opts.now ?? Date.now;
  const heading = opts.heading ?? CHECKPOINT_HEADING;
  const contentOf = (note: string): string => {
    if (typeof note !== 'string' || note.trim() === '') throw new TypeError('checkpoint witness: the note is empty');
    // The note is signed: posted exactly as given, after the heading line.
    return heading === '' ? note : `${heading}\n${note}`;
  };

  if (chatid !== undefined) {
    return {
      name: 'wecom_appchat',
      async witness(note) {
        const body = { chatid, msgtype: 'text' as const, text: { content: contentOf(note) }, safe: 0 as const };
        const sentAt = new Date(now());
        const response = await opts.client.appchat.send(body);
        return { response: toEvidenceJson(response), sentAt, request: toEvidenceJson({ api: 'appchat/send', body }) };
      },
    };
  }

  // Validated now, so a wrong setting fails at start-up rather than at the first checkpoint.
  const key = webhookKeyOf(keyIn ?? '');
  // Which robot witnessed, without the key: a fingerprint survives key rotation audits and reveals nothing.
  const robot = `sha256:${secretFingerprint(key).slice(0, 16)}`;
  return {
    name: 'wecom_webhook',
    async witness(note) {
      const body = { msgtype: 'text' as const, text: { content: contentOf(note) } };
      const sentAt = new Date(now());
      const response = await opts.client.webhook.send(key, body);
      return {
        response: toEvidenceJson(response),
        sentAt,
        request: toEvidenceJson({ api: 'webhook/send', robot, body }),
      };
    },
  };
}
