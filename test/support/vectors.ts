import vectors from '../fixtures/wecom-vectors.json';

/** WeCom's official callback test vectors (copied from the WeCom reference into test/fixtures). */
export interface Vector {
  name: string;
  kind: string;
  token: string;
  encodingAESKey: string;
  receiveId: string;
  msg_signature: string;
  timestamp: string;
  nonce: string;
  echostr?: string;
  echostr_urlencoded?: string;
  encrypt?: string;
  post_body?: string;
  expected_plaintext: string;
  expected_error?: number;
}

export const VECTORS = vectors as unknown as Vector[];

export function vector(name: string): Vector {
  const v = VECTORS.find((x) => x.name === name);
  if (!v) throw new Error(`no test vector named ${name}`);
  return v;
}
