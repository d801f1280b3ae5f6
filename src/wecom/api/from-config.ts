import type { Redis } from 'ioredis';
import type { Config } from '../../config/env';
import { createWecomClient, type WecomClient } from './client';
import type { OutboundLedger, WecomLogger } from './types';

/** The corp's client as the processes and scripts build it from their configuration. */
export function wecomClientFromConfig(
  config: Config,
  deps: { redis: Redis; logger: WecomLogger; ledger: OutboundLedger },
): WecomClient {
  return createWecomClient({
    apiBase: config.WECOM_API_BASE,
    corpId: config.WECOM_CORP_ID,
    secret: config.WECOM_SECRET,
    agentId: config.WECOM_AGENT_ID,
    redis: deps.redis,
    logger: deps.logger,
    ledger: deps.ledger,
  });
}
