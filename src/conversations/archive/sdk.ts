import koffi from 'koffi';

/**
 * WeCom's Finance SDK (libWeWorkFinanceSdk_C.so), the only way to pull and decrypt the chat
 * archive (会话内容存档), bound through koffi on the C ABI of the official header
 * WeWorkFinanceSdk_C.h:
 *
 *   WeWorkFinanceSdk_t* NewSdk();
 *   int  Init(WeWorkFinanceSdk_t* sdk, const char* corpid, const char* secret);
 *   int  GetChatData(WeWorkFinanceSdk_t* sdk, unsigned long long seq, unsigned int limit,
 *                    const char* proxy, const char* passwd, int timeout, Slice_t* chatDatas);
 *   int  DecryptData(const char* encrypt_key, const char* encrypt_msg, Slice_t* msg);
 *   int  GetMediaData(WeWorkFinanceSdk_t* sdk, const char* indexbuf, const char* sdkFileid,
 *                     const char* proxy, const char* passwd, int timeout, MediaData_t* media_data);
 *   void DestroySdk(WeWorkFinanceSdk_t* sdk);
 *   Slice_t* NewSlice(); void FreeSlice(Slice_t*); char* GetContentFromSlice(Slice_t*); int GetSliceLen(Slice_t*);
 *   MediaData_t* NewMediaData(); void FreeMediaData(MediaData_t*); char* GetOutIndexBuf(MediaData_t*);
 *   char* GetData(MediaData_t*); int GetDataLen(MediaData_t*); int IsMediaDataFinish(MediaData_t*);
 *
 * Every call that may block (Init, GetChatData, DecryptData, GetMediaData: network and crypto in
 * the real SDK) runs through koffi's async calls on a worker thread, so a slow SDK never holds the
 * event loop: callbacks, health checks and other jobs go on meanwhile. Slices are read with their
 * length (a message may hold NUL or any byte) and copied before they are freed; every slice and
 * media buffer is freed whatever happens.
 */

/** SDK error codes (doc 91552). 10001–10003 and 10008: retry with the same parameters. */
export const FINANCE_SDK_ERRORS: Readonly<Record<number, string>> = {
  10000: '参数错误 (corpid/secret, limit > 1000 or an empty sdkfileid)',
  10001: '网络错误 (proxy, ports 80/443)',
  10002: '数据解析失败',
  10003: '系统调用失败',
  10005: 'fileid 错误',
  10006: '解密失败',
  10008: '解析 encrypt_key 出错',
  10009: 'IP 非法 (the puller’s public IP is not in the archive’s trusted IPs)',
  10010: '数据过期 (older than 5 days)',
  10011: '证书错误',
};

const RETRYABLE = new Set([10001, 10002, 10003, 10008]);

export class FinanceSdkError extends Error {
  constructor(
    readonly op: string,
    readonly code: number,
  ) {
    super(`Finance SDK ${op} failed with ${code}${FINANCE_SDK_ERRORS[code] ? `: ${FINANCE_SDK_ERRORS[code]}` : ''}`);
    this.name = 'FinanceSdkError';
  }

  /** Whether WeCom documents the code as worth retrying with the same parameters. */
  get retryable(): boolean {
    return RETRYABLE.has(this.code);
  }
}

export interface FinanceSdkOptions {
  /** Path of libWeWorkFinanceSdk_C.so (MSGAUDIT_SDK_LIBRARY). */
  library: string;
  corpId: string;
  /** The chat archive's own Secret (MSGAUDIT_SECRET). */
  secret: string;
  /** `socks5://…` or `http://…`, and its `user:pass`. */
  proxy?: string;
  proxyPassword?: string;
  /** Seconds the SDK may take per call. */
  timeoutSeconds: number;
}

export interface MediaChunk {
  data: Buffer;
  /** Pass to the next call. */
  nextIndex: string;
  finished: boolean;
}

export interface FinanceSdk {
  /** GetChatData from `seq` (exclusive), at most `limit` (≤ 1000) items: the slice's JSON text. */
  getChatData(seq: bigint, limit: number): Promise<string>;
  /** DecryptData: the message JSON text of one item, given the random key already unwrapped with RSA. */
  decryptData(randomKey: Buffer, encryptChatMsg: string): Promise<Buffer>;
  /** GetMediaData: one chunk (≤ 512 KiB) of a media file. */
  getMediaChunk(sdkFileId: string, index: string): Promise<MediaChunk>;
  /** DestroySdk. Waits for calls in flight. */
  close(): Promise<void>;
}

/** A koffi function, called through its `async` member. */
type AsyncFn = { async: (...args: unknown[]) => unknown };

/** Calls a koffi function on a worker thread. */
function call<T>(fn: AsyncFn, ...args: unknown[]): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    fn.async(...args, (err: unknown, result: T) => {
      if (err) reject(err instanceof Error ? err : new Error(`koffi async call failed: ${JSON.stringify(err)}`));
      else resolve(result);
    });
  });
}

/** Loads the library and runs NewSdk + Init. Throws FinanceSdkError when Init refuses. */
export async function openFinanceSdk(opts: FinanceSdkOptions): Promise<FinanceSdk> {
  const lib = koffi.load(opts.library);
  const f = {
    NewSdk: lib.func('void* NewSdk()'),
    Init: lib.func('int Init(void* sdk, const char* corpid, const char* secret)'),
    GetChatData: lib.func(
      'int GetChatData(void* sdk, uint64_t seq, uint32_t limit, const char* proxy, const char* passwd, int timeout, void* chatDatas)',
    ),
    DecryptData: lib.func('int DecryptData(const char* encrypt_key, const char* encrypt_msg, void* msg)'),
    GetMediaData: lib.func(
      'int GetMediaData(void* sdk, const char* indexbuf, const char* sdkFileid, const char* proxy, const char* passwd, int timeout, void* media)',
    ),
    DestroySdk: lib.func('void DestroySdk(void* sdk)'),
    NewSlice: lib.func('void* NewSlice()'),
    FreeSlice: lib.func('void FreeSlice(void* slice)'),
    GetContentFromSlice: lib.func('void* GetContentFromSlice(void* slice)'),
    GetSliceLen: lib.func('int GetSliceLen(void* slice)'),
    NewMediaData: lib.func('void* NewMediaData()'),
    FreeMediaData: lib.func('void FreeMediaData(void* media)'),
    GetOutIndexBuf: lib.func('const char* GetOutIndexBuf(void* media)'),
    GetData: lib.func('void* GetData(void* media)'),
    GetDataLen: lib.func('int GetDataLen(void* media)'),
    IsMediaDataFinish: lib.func('int IsMediaDataFinish(void* media)'),
  };
  const sdk = f.NewSdk() as unknown;
  if (!sdk) throw new FinanceSdkError('NewSdk', 10003);
  const rc = await call<number>(f.Init, sdk, opts.corpId, opts.secret);
  if (rc !== 0) {
    f.DestroySdk(sdk);
    throw new FinanceSdkError('Init', rc);
  }

  const proxy = opts.proxy ?? '';
  const passwd = opts.proxyPassword ?? '';
  const inflight = new Set<Promise<unknown>>();
  let closed = false;
  const track = <T>(p: Promise<T>): Promise<T> => {
    if (closed) return Promise.reject(new Error('the Finance SDK was closed'));
    inflight.add(p);
    void p.then(
      () => inflight.delete(p),
      () => inflight.delete(p),
    );
    return p;
  };

  /** Copies the slice's bytes out (by length, not up to a NUL). */
  const sliceBytes = (slice: unknown): Buffer => {
    const len = f.GetSliceLen(slice) as number;
    if (len <= 0) return Buffer.alloc(0);
    const ptr = f.GetContentFromSlice(slice) as unknown;
    if (!ptr) return Buffer.alloc(0);
    return Buffer.from(new Uint8Array(koffi.view(ptr, len)).slice());
  };

  async function withSlice<T>(op: string, run: (slice: unknown) => Promise<number>, read: (slice: unknown) => T): Promise<T> {
    const slice = f.NewSlice() as unknown;
    if (!slice) throw new FinanceSdkError(`${op} (NewSlice)`, 10003);
    try {
      const code = await run(slice);
      if (code !== 0) throw new FinanceSdkError(op, code);
      return read(slice);
    } finally {
      f.FreeSlice(slice);
    }
  }

  return {
    getChatData(seq, limit) {
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new RangeError('limit must be 1 to 1000');
      return track(
        withSlice(
          'GetChatData',
          (slice) => call<number>(f.GetChatData, sdk, seq, limit, proxy, passwd, opts.timeoutSeconds, slice),
          (slice) => sliceBytes(slice).toString('utf8'),
        ),
      );
    },
    decryptData(randomKey, encryptChatMsg) {
      return track(
        withSlice(
          'DecryptData',
          // The key's bytes exactly, NUL-terminated (a JS string would be re-encoded as UTF-8).
          (slice) => call<number>(f.DecryptData, Buffer.concat([randomKey, Buffer.alloc(1)]), encryptChatMsg, slice),
          (slice) => sliceBytes(slice),
        ),
      );
    },
    getMediaChunk(sdkFileId, index) {
      return track(
        (async () => {
          const media = f.NewMediaData() as unknown;
          if (!media) throw new FinanceSdkError('GetMediaData (NewMediaData)', 10003);
          try {
            const code = await call<number>(f.GetMediaData, sdk, index, sdkFileId, proxy, passwd, opts.timeoutSeconds, media);
            if (code !== 0) throw new FinanceSdkError('GetMediaData', code);
            const len = f.GetDataLen(media) as number;
            const ptr = f.GetData(media) as unknown;
            const data = len > 0 && ptr ? Buffer.from(new Uint8Array(koffi.view(ptr, len)).slice()) : Buffer.alloc(0);
            const nextIndex = (f.GetOutIndexBuf(media) as string | null) ?? '';
            return { data, nextIndex, finished: (f.IsMediaDataFinish(media) as number) === 1 };
          } finally {
            f.FreeMediaData(media);
          }
        })(),
      );
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.allSettled([...inflight]);
      f.DestroySdk(sdk);
    },
  };
}
