/**
 * The scans that find the ciphertext before the signature check (issue 8): for every envelope the
 * route accepts they must read exactly what the full parse reads, and their cost must not depend on
 * how hostile the body is.
 */
import { envelopeCiphertextJson, parseJsonLossless } from '../../src/wecom/json';
import { envelopeCiphertext, parseWecomXml, textOf } from '../../src/wecom/xml';
import { countWork } from '../support/work';

const ENC = 'RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3Qczc==';

describe('envelopeCiphertext (XML)', () => {
  test.each([
    [
      'sandbox form',
      `<xml><ToUserName><![CDATA[ww1]]></ToUserName><Encrypt><![CDATA[${ENC}]]></Encrypt><AgentID>1</AgentID></xml>`,
    ],
    ['plain text', `<xml><Encrypt>${ENC}</Encrypt></xml>`],
    ['declared and spaced', `<?xml version="1.0" encoding="utf-8"?>\n<xml>\n  <Encrypt >${ENC}</Encrypt >\n</xml>\n`],
    ['Encrypt after the others', `<xml><AgentID/><ToUserName>a</ToUserName><Encrypt>${ENC}</Encrypt></xml>`],
    ['references and split CDATA', `<xml><Encrypt>&#82;yp<![CDATA[EvHKD8QQ]]>&amp;x</Encrypt></xml>`],
    [
      'a decoy inside a CDATA section before it',
      `<xml><ToUserName><![CDATA[<Encrypt>nope</Encrypt>]]></ToUserName><Encrypt>${ENC}</Encrypt></xml>`,
    ],
    ['<EncryptedNote> before it', `<xml><EncryptedNote>nope</EncryptedNote><Encrypt>${ENC}</Encrypt></xml>`],
  ])('%s: the scan reads what the parse reads', (_n, body) => {
    const parsed = textOf(parseWecomXml(body).root, 'Encrypt');
    expect(parsed).toBeDefined();
    expect(envelopeCiphertext(body)).toBe(parsed);
  });

  test.each([
    ['no Encrypt', '<xml><ToUserName>a</ToUserName></xml>', undefined],
    ['only in a comment', `<xml><!-- <Encrypt>${ENC}</Encrypt> --></xml>`, undefined],
    ['self-closing', '<xml><Encrypt/></xml>', ''],
    ['an unknown entity', '<xml><Encrypt>&lol;</Encrypt></xml>', undefined],
    ['unterminated CDATA', '<xml><Encrypt><![CDATA[abc', undefined],
    ['not closed', `<xml><Encrypt>${ENC}</xml>`, ENC],
    ['prefix of another name', `<xml><EncryptX>a</EncryptX></xml>`, undefined],
  ])('%s', (_n, body, expected) => {
    expect(envelopeCiphertext(body)).toBe(expected);
  });
});

describe('envelopeCiphertextJson', () => {
  test.each([
    ['WeCom casing', `{"ToUserName":"ww1","Encrypt":"${ENC}","AgentID":1000002}`],
    ['lower case', `{"tousername":"ww1","encrypt":"${ENC}","agentid":"1"}`],
    ['escaped slash and key', `{"\\u0065ncrypt":"${ENC.replace(/\//g, '\\/')}"}`],
    ['after a nested decoy', `{"agentid":{"encrypt":"nope"},"tousername":["encrypt","x"],"ENCRYPT":"${ENC}"}`],
  ])('%s: the scan reads what the parse reads', (_n, body) => {
    const env = parseJsonLossless(body) as Record<string, unknown>;
    const key = Object.keys(env).find((k) => k.toLowerCase() === 'encrypt') ?? '';
    expect(envelopeCiphertextJson(body)).toBe(env[key]);
  });

  test.each([
    ['no encrypt', '{"tousername":"a"}', undefined],
    ['a top-level array', `[{"encrypt":"${ENC}"}]`, undefined],
    ['an object value', '{"encrypt":{"a":"b"}}', undefined],
    ['a number, as written', '{"encrypt":12345678901234567890}', '12345678901234567890'],
  ])('%s', (_n, body, expected) => {
    expect(envelopeCiphertextJson(body)).toBe(expected);
  });
});

describe('cost does not depend on the shape of the body', () => {
  // Counted, not timed (test/support/work.ts): the characters the scans hand to the string searches,
  // charCodeAt and regular expressions (tagEnd's walk to a start tag's '>' reads by index, once per
  // <Encrypt). `npm run bench:hostile` prints what these bodies cost the API in CPU.
  const counted = { searches: true, charCodeAt: true, regex: true };
  const empties = `<xml>${'<a/>'.repeat(9_000)}<Encrypt>${ENC}</Encrypt></xml>`;
  const deep = `<xml>${'<a>'.repeat(10_000)}${'</a>'.repeat(10_000)}</xml>`;
  const comments = `<xml>${'<!--c-->'.repeat(8_000)}<Encrypt>${ENC}</Encrypt></xml>`;
  const json = `{"a":${'['.repeat(30_000)}${']'.repeat(30_000)},"encrypt":"${ENC}"}`;
  const keys = `{${Array.from({ length: 6_000 }, (_, k) => `"k${k}":${k},`).join('')}"encrypt":"${ENC}"}`;
  const escapes = `{"a":"${'\\\\'.repeat(8_000)}","encrypt":"${ENC}"}`;

  test.each([
    ['~9,000 empty elements', empties, ENC],
    ['10,000 deep', deep, undefined],
  ])('XML, %s: native searches for two markers, reading the body about once', (_n, body, expected) => {
    const { result, work } = countWork(counted, () => envelopeCiphertext(body));
    expect(result).toBe(expected);
    expect(work.calls).toBeLessThanOrEqual(10);
    // Two markers searched for over the body, each once.
    expect(work.chars).toBeLessThanOrEqual(3 * body.length);
  });

  test('XML, 8,000 comments: a few searches past each, the body read a few times', () => {
    const { result, work } = countWork(counted, () => envelopeCiphertext(comments));
    expect(result).toBe(ENC);
    expect(work.calls).toBeLessThanOrEqual(5 * 8_000);
    // Past each comment: is it CDATA or a comment, its end, the next '<!' (~3.4 characters read per
    // character), and '<Encrypt' once.
    expect(work.chars).toBeLessThanOrEqual(5 * comments.length);
  });

  test.each([
    ['30,000 deep', json],
    ['6,000 keys', keys],
    ['8,000 escaped backslashes', escapes],
  ])('JSON, %s: each character read a bounded number of times', (_n, body) => {
    const { result, work } = countWork(counted, () => envelopeCiphertextJson(body));
    expect(result).toBe(ENC);
    expect(work.chars).toBeLessThanOrEqual(3 * body.length);
  });
});
