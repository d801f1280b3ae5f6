import type { Redis } from 'ioredis';
import type { Pool } from 'pg';
import { createLedgerReader } from '../../evidence';
import { createExternalContactIds } from '../external-contacts';
import type { Config } from '../../config/env';
import { createWecomClient, type WecomClient } from './client';
import type { OutboundLedger, WecomLogger } from './types';

/**
 * The corp's client as the processes and scripts build it from their configuration. It reads back
 * the ledger (a re-run after a recorded send returns the recorded answer) and names external contacts by their
 * opaque ids (kf/send_msg and add_msg_template need it).
 */
export function wecomClientFromConfig(
  config: Config,
  deps: { redis: Redis; logger: WecomLogger; ledger: OutboundLedger; pool: Pick<Pool, 'query'> },
): WecomClient {
  return createWecomClient({
    apiBase: config.WECOM_API_BASE,
    corpId: config.WECOM_CORP_ID,
    secret: config.WECOM_SECRET,
    agentId: config.WECOM_AGENT_ID,
    redis: deps.redis,
    logger: deps.logger,
    ledger: deps.ledger,
    reader: createLedgerReader(deps.pool),
    externalContacts: createExternalContactIds(deps.pool),
  });
}
