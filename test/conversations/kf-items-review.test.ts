import { readKfItem } from '../../src/conversations/kf-items';
import { parseSdkJson } from '../../src/conversations/archive/decode';
import { parseJsonLossless } from '../../src/wecom/json';
import { verifyLedger } from '../../src/evidence';
import { startKfWorld, type KfWorld } from './support';

/**
 * Review of issue 9: a sync_msg item is stored "as received". JSON may hold a member named
 * `__proto__` (the lossless parser keeps it as an own member); copying it with `out[k] = v` set the
 * copy's prototype instead, so the member vanished from the record and its contents answered reads
 * of missing fields, so the fields read from the item (role, text, the event) could come from
 * something the record does not hold.
 */

const NOW = Date.UTC(2026, 10, 26, 8, 0, 0);
const ITEM =
  '{"msgid":"m-proto-1","msgtype":"text","origin":3,"send_time":1764144000,"external_userid":"wmProto000000001",' +
  '"text":{"content":"你好"},"__proto__":{"event":{"event_type":"msg_send_fail","fail_msgid":"hl-x","external_userid":"wmOther"}}}';

describe('a "__proto__" member of a WeCom item', () => {
  test('is kept as a member of the stored item and never read as one of its fields', () => {
    const item = readKfItem(parseJsonLossless(ITEM), NOW);
    if (!item.ok) throw new Error('not read');
    expect(Object.keys(item.message)).toContain('__proto__');
    expect(JSON.stringify(item.message)).toBe(JSON.stringify(parseJsonLossless(ITEM)));
    expect(Object.getPrototypeOf(item.message)).toBe(Object.prototype);
    // The event is inside `__proto__`, not the item's own: no msg_send_fail is read from it.
    expect(item.eventType).toBeNull();
    expect(item.failMsgid).toBeNull();
  });

  test('an archive item with a "__proto__" member keeps it too', () => {
    const plain =
      '{"msgid":"a-proto-1","action":"send","from":"zhangsan","tolist":["wmProto000000001"],"roomid":"","msgtime":1764144000000,' +
      '"msgtype":"text","text":{"content":"你好"},"__proto__":{"msgtype":"file"}}';
    const message = parseSdkJson(plain);
    expect(JSON.stringify(message)).toContain('"__proto__"');
    expect(Object.getPrototypeOf(message)).toBe(Object.prototype);
  });

  describe('through the ledger', () => {
    let w: KfWorld;
    beforeAll(async () => {
      w = await startKfWorld();
    });
    afterAll(async () => {
      await w.close();
    });

    test('the stored record holds the member and verifies', async () => {
      const item = readKfItem(parseJsonLossless(ITEM), NOW);
      if (!item.ok) throw new Error('not read');
      const { records } = await w.ledger.transact(async () => ({
        result: null,
        entries: [
          {
            stream: 'conversation:kf:wkReview',
            kind: 'conversation.message',
            occurredAt: new Date(NOW),
            actor: 'hireledger',
            source: 'wecom.kf',
            sourceRef: 'kf:wkReview:m-proto-1',
            payload: { message: item.message },
            raw: null,
          },
        ],
      }));
      const seq = records[0]?.seq as number;
      const [row] = await w.records('seq = $1', [seq]);
      expect(JSON.stringify(row?.payload.message)).toContain('"__proto__":{"event"');
      const report = await verifyLedger(w.app.db.pool);
      expect(report.ok).toBe(true);
    });
  });
});
