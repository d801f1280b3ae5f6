import type { JsonValue, StoredRecord } from '../evidence';
import { PermanentJobError } from '../platform/errors';
import type { CallbackHandler, LedgerConsumer, TypedCallback } from '../platform/module';
import { CallbackParseError, parseCallback, type CallbackType } from '../wecom/callbacks';
import { CALLBACK_SOURCE, handledCallbackKind } from '../wecom/names';

/**
 * A module's typed callback handler as a ledger consumer: it takes the records stored as a known
 * type of ours (`wecom.callback.<type>`), reads the payload's fields into the typed event and hands
 * that over. Records stored for another agent (`wecom.callback.other_agent.*`), unparsed or of an
 * unknown type have other kinds and never reach it; a record whose fields are partial (`fields_error`)
 * fails permanently and is recorded, because no retry can add what the message did not hold.
 */
export function callbackConsumer<T extends CallbackType>(type: T, handler: CallbackHandler<T>): LedgerConsumer {
  const kind = handledCallbackKind(type);
  return {
    accepts: (r) => r.source === CALLBACK_SOURCE && r.kind === kind,
    async handle(record, ctx) {
      await handler(typedCallback(type, record), ctx);
    },
  };
}

/** The typed event of a stored callback record; throws when the record is not one a handler may see. */
export function typedCallback<T extends CallbackType>(type: T, record: StoredRecord): TypedCallback<T> {
  const payload = objectOf(record.payload);
  if (payload?.['type'] !== type) throw new PermanentJobError(`record ${record.seq} is not a ${type} callback of ours`);
  const agent = objectOf(payload['agent'] ?? null);
  if (agent?.['ours'] === false) throw new PermanentJobError(`record ${record.seq} is flagged as for another agent`);
  const error = payload['fields_error'];
  if (error !== undefined) {
    const why = typeof error === 'string' ? error : JSON.stringify(error);
    throw new CallbackParseError(type, 'fields', `are missing or partial: ${why.slice(0, 200)}`);
  }
  return {
    seq: record.seq,
    hash: record.hash,
    stream: record.stream,
    occurredAt: record.occurredAt,
    recordedAt: record.recordedAt,
    event: parseCallback(type, payload['fields']),
  };
}

function objectOf(v: JsonValue): { [key: string]: JsonValue } | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? v : undefined;
}
