import { Counter, Registry } from 'prom-client';

/**
 * The module's counters, registered on the process's registry when one is given (the worker's
 * `metrics.registry`), else on a private one (tests that read them through `metrics`).
 */
export function createConversationMetrics(registry: Registry = new Registry()) {
  return {
    registry,
    /**
     * Bad input met by a pull and how it was kept: unknown_msgtype (stored as it came),
     * text_over_cap (stored cut, the whole message kept as media), media_over_cap (refused, recorded),
     * malformed_answer (a gap; the page is pulled again), malformed_item (a placeholder),
     * unknown_external_userid (a candidate first seen mid-conversation), missing_external_userid,
     * unknown_fail_msgid (msg_send_fail for a message HireLedger did not send), bad_send_time.
     */
    badInput: new Counter({
      name: 'hireledger_conversation_bad_input_total',
      help: 'Bad input met while pulling conversations, by channel and reason; each is recorded, none stops the pull',
      labelNames: ['channel', 'reason'] as const,
      registers: [registry],
    }),
    messages: new Counter({
      name: 'hireledger_conversation_messages_total',
      help: 'Conversation messages stored, by channel and role',
      labelNames: ['channel', 'role'] as const,
      registers: [registry],
    }),
    pages: new Counter({
      name: 'hireledger_kf_pages_total',
      help: 'kf/sync_msg pages by outcome: committed, empty, gap (refused or malformed; pulled again later), raced (another pull committed it first)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    media: new Counter({
      name: 'hireledger_conversation_media_total',
      help: 'Media of conversation messages by outcome: stored, duplicate (already held by the candidate), refused (over the cap), failed (given up after retries), retry',
      labelNames: ['channel', 'outcome'] as const,
      registers: [registry],
    }),
  };
}

export type ConversationMetrics = ReturnType<typeof createConversationMetrics>;
