/** Evidence entries for ledger tests, with defaults a test overrides where its point lies. */
import { randomBytes } from 'node:crypto';
import type { EvidenceEntry } from '../../src/evidence';

let made = 0;

/**
 * A note by zhangmin on stream candidate:1, occurred at a fixed time (2026-11-20T01:02:03.456Z),
 * under a source_ref no other call returns: so two calls are two records unless a test says
 * otherwise.
 */
export function evidenceEntry(over: Partial<EvidenceEntry> = {}): EvidenceEntry {
  made += 1;
  return {
    stream: 'candidate:1',
    kind: 'test.note',
    occurredAt: new Date('2026-11-20T01:02:03.456Z'),
    actor: 'zhangmin',
    source: 'test',
    sourceRef: `ref-${made}-${randomBytes(4).toString('hex')}`,
    payload: { text: '你好', n: 1 },
    raw: null,
    ...over,
  };
}

/**
 * The i-th message of a scripted conversation: source_ref `m<i>`, text `消息 <i>`, occurred at
 * 09:00:<i> UTC on 2026-11-20. Deterministic, for tests that checkpoint, rewrite and verify a ledger.
 */
export function conversationMessage(i: number, over: Partial<EvidenceEntry> = {}): EvidenceEntry {
  return {
    stream: 'candidate:a',
    kind: 'conversation.message',
    occurredAt: new Date(Date.UTC(2026, 10, 20, 9, 0, i)),
    actor: 'zhangmin',
    source: 'test',
    sourceRef: `m${i}`,
    payload: { text: `消息 ${i}` },
    raw: null,
    ...over,
  };
}
