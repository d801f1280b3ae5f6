/*
 * A stand-in for WeCom's Finance SDK (libWeWorkFinanceSdk_C.so), the only way to read the
 * 会话内容存档 chat archive. It exports the SDK's C ABI exactly as the official header
 * WeWorkFinanceSdk_C.h declares it (WeCom doc 91774; sandbox/archive/README.md: NewSdk, Init,
 * GetChatData, DecryptData, GetMediaData, the Slice_t and MediaData_t helpers, DestroySdk), so HireLedger's FFI binding
 * (src/conversations/archive/sdk.ts) is exercised against a real shared library, loaded and
 * called off the event loop, as in production.
 *
 * Instead of WeCom's servers it serves what the sandbox writes (sandbox/archive/writer.ts) in
 * STANDIN_DATA_DIR (fixed when it is compiled, -DSTANDIN_DATA_DIR="..."):
 *   <corpid>.jsonl    one chat item per line, in seq order, exactly as GetChatData returns it:
 *                     {"seq":N,"msgid":"…","publickey_ver":V,"encrypt_random_key":"…","encrypt_chat_msg":"…"}
 *   <corpid>.secret   the archive Secret Init must have been given (else errcode 40001 in the answer)
 *   <corpid>.control  optional fault injection, key=value lines: delay_ms (each GetChatData call
 *                     sleeps that long, to show the call runs off the event loop) and fail_code
 *                     (GetChatData returns that SDK error code, e.g. 10001 network)
 *   media/<sdkfileid> the bytes GetMediaData serves, in chunks of 512 KiB
 *
 * DecryptData: the real SDK's symmetric cipher is proprietary (no public spec). The stand-in uses
 * a simple one of its own that has the same shape: the caller passes the random key it unwrapped
 * with its RSA private key (PKCS#1 v1.5) and the base64 encrypt_chat_msg; a wrong key fails with
 * 10006 (decrypt failed) instead of returning garbage. Layout of the decoded encrypt_chat_msg:
 *   nonce (16 bytes) || ciphertext || tag (8 bytes)
 *   keystream = xorshift64* seeded with FNV-1a-64(key || nonce), 8 bytes per step, little-endian
 *   tag       = FNV-1a-64(key || nonce || plaintext), little-endian
 * It is NOT a secure cipher: it only stands in for WeCom's, which HireLedger never implements.
 * libc only.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef STANDIN_DATA_DIR
#error "compile with -DSTANDIN_DATA_DIR=\"/path/to/dir\""
#endif

typedef struct WeWorkFinanceSdk_t {
  char *corpid;
  char *secret;
} WeWorkFinanceSdk_t;

typedef struct Slice_t {
  char *buf;
  int len;
} Slice_t;

typedef struct MediaData_t {
  char *outindexbuf;
  int out_len;
  char *data;
  int data_len;
  int is_finish;
} MediaData_t;

enum {
  ERR_PARAMS = 10000,
  ERR_NETWORK = 10001,
  ERR_PARSE = 10002,
  ERR_SYSTEM = 10003,
  ERR_FILEID = 10005,
  ERR_DECRYPT = 10006,
};

#define MEDIA_CHUNK (512 * 1024)

/* ---- helpers ---------------------------------------------------------------------------- */

static char *dup_str(const char *s) {
  size_t n = strlen(s);
  char *p = malloc(n + 1);
  if (p) memcpy(p, s, n + 1);
  return p;
}

static int set_slice(Slice_t *slice, const char *buf, size_t len) {
  char *p = malloc(len + 1);
  if (!p) return ERR_SYSTEM;
  memcpy(p, buf, len);
  p[len] = '\0';
  free(slice->buf);
  slice->buf = p;
  slice->len = (int)len;
  return 0;
}

/* A corp id the stand-in may use in a file name. */
static int safe_name(const char *s, size_t max) {
  size_t n = strlen(s);
  if (n == 0 || n > max) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
             c == '=';
    if (!ok) return 0;
  }
  return 1;
}

/* Whole file into a NUL-terminated buffer; NULL when it does not exist. */
static char *read_file(const char *path, size_t *len_out) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  if (!buf) {
    fclose(f);
    return NULL;
  }
  for (;;) {
    if (len + 4096 + 1 > cap) {
      cap *= 2;
      char *nb = realloc(buf, cap);
      if (!nb) {
        free(buf);
        fclose(f);
        return NULL;
      }
      buf = nb;
    }
    size_t got = fread(buf + len, 1, 4096, f);
    len += got;
    if (got < 4096) break;
  }
  fclose(f);
  buf[len] = '\0';
  if (len_out) *len_out = len;
  return buf;
}

static void path_of(char *out, size_t cap, const char *corpid, const char *suffix) {
  snprintf(out, cap, "%s/%s%s", STANDIN_DATA_DIR, corpid, suffix);
}

/* An integer value of `key=` in the control file, or 0. */
static long control_value(const char *corpid, const char *key) {
  char path[4096];
  path_of(path, sizeof path, corpid, ".control");
  char *text = read_file(path, NULL);
  if (!text) return 0;
  long value = 0;
  size_t klen = strlen(key);
  for (char *line = text; line && *line;) {
    char *next = strchr(line, '\n');
    if (next) *next++ = '\0';
    if (strncmp(line, key, klen) == 0 && line[klen] == '=') value = strtol(line + klen + 1, NULL, 10);
    line = next;
  }
  free(text);
  return value;
}

static int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

/* Strict standard base64 with padding; returns a malloc'd buffer or NULL. */
static unsigned char *b64_decode(const char *in, size_t *out_len) {
  size_t n = strlen(in);
  if (n == 0 || n % 4 != 0) return NULL;
  size_t pad = (in[n - 1] == '=') + (n > 1 && in[n - 2] == '=');
  unsigned char *out = malloc(n / 4 * 3);
  if (!out) return NULL;
  size_t o = 0;
  for (size_t i = 0; i < n; i += 4) {
    int v[4];
    for (int j = 0; j < 4; j++) {
      char c = in[i + j];
      if (c == '=' && i + 4 == n && j >= 4 - (int)pad) {
        v[j] = 0;
        continue;
      }
      v[j] = b64_value(c);
      if (v[j] < 0) {
        free(out);
        return NULL;
      }
    }
    uint32_t triple = ((uint32_t)v[0] << 18) | ((uint32_t)v[1] << 12) | ((uint32_t)v[2] << 6) | (uint32_t)v[3];
    out[o++] = (triple >> 16) & 0xff;
    out[o++] = (triple >> 8) & 0xff;
    out[o++] = triple & 0xff;
  }
  *out_len = o - pad;
  return out;
}

static uint64_t fnv1a64(uint64_t h, const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

#define FNV_OFFSET 0xcbf29ce484222325ULL

static void sleep_ms(long ms) {
  if (ms <= 0) return;
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
}

/* ---- the SDK's C ABI ---------------------------------------------------------------------- */

WeWorkFinanceSdk_t *NewSdk(void) { return calloc(1, sizeof(WeWorkFinanceSdk_t)); }

int Init(WeWorkFinanceSdk_t *sdk, const char *corpid, const char *secret) {
  if (!sdk || !corpid || !secret || !safe_name(corpid, 64) || secret[0] == '\0') return ERR_PARAMS;
  free(sdk->corpid);
  free(sdk->secret);
  sdk->corpid = dup_str(corpid);
  sdk->secret = dup_str(secret);
  return sdk->corpid && sdk->secret ? 0 : ERR_SYSTEM;
}

void DestroySdk(WeWorkFinanceSdk_t *sdk) {
  if (!sdk) return;
  free(sdk->corpid);
  free(sdk->secret);
  free(sdk);
}

Slice_t *NewSlice(void) { return calloc(1, sizeof(Slice_t)); }

void FreeSlice(Slice_t *slice) {
  if (!slice) return;
  free(slice->buf);
  free(slice);
}

char *GetContentFromSlice(Slice_t *slice) { return slice ? slice->buf : NULL; }

int GetSliceLen(Slice_t *slice) { return slice ? slice->len : 0; }

int GetChatData(WeWorkFinanceSdk_t *sdk, unsigned long long seq, unsigned int limit, const char *proxy,
                const char *passwd, int timeout, Slice_t *chatDatas) {
  (void)proxy;
  (void)passwd;
  (void)timeout;
  if (!sdk || !sdk->corpid || !chatDatas || limit == 0 || limit > 1000) return ERR_PARAMS;
  sleep_ms(control_value(sdk->corpid, "delay_ms"));
  long fail = control_value(sdk->corpid, "fail_code");
  if (fail != 0) return (int)fail;

  char path[4096];
  path_of(path, sizeof path, sdk->corpid, ".secret");
  char *secret = read_file(path, NULL);
  if (secret) {
    size_t n = strlen(secret);
    while (n > 0 && (secret[n - 1] == '\n' || secret[n - 1] == '\r')) secret[--n] = '\0';
    int ok = strcmp(secret, sdk->secret) == 0;
    free(secret);
    if (!ok) {
      const char *err = "{\"errcode\":40001,\"errmsg\":\"invalid secret\",\"chatdata\":[]}";
      return set_slice(chatDatas, err, strlen(err));
    }
  }

  path_of(path, sizeof path, sdk->corpid, ".jsonl");
  size_t file_len = 0;
  char *text = read_file(path, &file_len);
  const char *head = "{\"errcode\":0,\"errmsg\":\"ok\",\"chatdata\":[";
  size_t cap = strlen(head) + file_len + 8, len = 0;
  char *out = malloc(cap);
  if (!out) {
    free(text);
    return ERR_SYSTEM;
  }
  len = strlen(head);
  memcpy(out, head, len);
  unsigned int taken = 0;
  for (char *line = text; line && *line && taken < limit;) {
    char *next = strchr(line, '\n');
    if (next) *next++ = '\0';
    char *at = strstr(line, "\"seq\":");
    if (at) {
      unsigned long long item_seq = strtoull(at + 6, NULL, 10);
      if (item_seq > seq) {
        size_t n = strlen(line);
        if (taken > 0) out[len++] = ',';
        memcpy(out + len, line, n);
        len += n;
        taken++;
      }
    }
    line = next;
  }
  out[len++] = ']';
  out[len++] = '}';
  free(text);
  int rc = set_slice(chatDatas, out, len);
  free(out);
  return rc;
}

int DecryptData(const char *encrypt_key, const char *encrypt_msg, Slice_t *msg) {
  if (!encrypt_key || !encrypt_msg || !msg || encrypt_key[0] == '\0') return ERR_PARAMS;
  size_t n = 0;
  unsigned char *raw = b64_decode(encrypt_msg, &n);
  if (!raw) return ERR_DECRYPT;
  if (n < 16 + 8) {
    free(raw);
    return ERR_DECRYPT;
  }
  const unsigned char *nonce = raw;
  const unsigned char *ct = raw + 16;
  size_t ct_len = n - 16 - 8;
  const unsigned char *tag = raw + n - 8;
  size_t key_len = strlen(encrypt_key);

  uint64_t x = fnv1a64(fnv1a64(FNV_OFFSET, (const unsigned char *)encrypt_key, key_len), nonce, 16);
  if (x == 0) x = 1;
  unsigned char *plain = malloc(ct_len + 1);
  if (!plain) {
    free(raw);
    return ERR_SYSTEM;
  }
  uint64_t block = 0;
  for (size_t i = 0; i < ct_len; i++) {
    if (i % 8 == 0) {
      x ^= x >> 12;
      x ^= x << 25;
      x ^= x >> 27;
      block = x * 0x2545F4914F6CDD1DULL;
    }
    plain[i] = ct[i] ^ (unsigned char)(block >> (8 * (i % 8)));
  }
  uint64_t h = fnv1a64(fnv1a64(fnv1a64(FNV_OFFSET, (const unsigned char *)encrypt_key, key_len), nonce, 16), plain, ct_len);
  int ok = 1;
  for (int i = 0; i < 8; i++) ok &= tag[i] == (unsigned char)(h >> (8 * i));
  free(raw);
  if (!ok) {
    free(plain);
    return ERR_DECRYPT;
  }
  int rc = set_slice(msg, (const char *)plain, ct_len);
  free(plain);
  return rc;
}

MediaData_t *NewMediaData(void) { return calloc(1, sizeof(MediaData_t)); }

void FreeMediaData(MediaData_t *media) {
  if (!media) return;
  free(media->outindexbuf);
  free(media->data);
  free(media);
}

char *GetOutIndexBuf(MediaData_t *media) { return media ? media->outindexbuf : NULL; }

char *GetData(MediaData_t *media) { return media ? media->data : NULL; }

int GetDataLen(MediaData_t *media) { return media ? media->data_len : 0; }

int IsMediaDataFinish(MediaData_t *media) { return media ? media->is_finish : 0; }

int GetMediaData(WeWorkFinanceSdk_t *sdk, const char *indexbuf, const char *sdkFileid, const char *proxy,
                 const char *passwd, int timeout, MediaData_t *media) {
  (void)proxy;
  (void)passwd;
  (void)timeout;
  if (!sdk || !sdk->corpid || !media || !sdkFileid || sdkFileid[0] == '\0') return ERR_PARAMS;
  if (!safe_name(sdkFileid, 1024)) return ERR_FILEID;
  char path[4096];
  snprintf(path, sizeof path, "%s/media/%s", STANDIN_DATA_DIR, sdkFileid);
  size_t len = 0;
  char *data = read_file(path, &len);
  if (!data) return ERR_FILEID;
  size_t offset = indexbuf && indexbuf[0] ? strtoull(indexbuf, NULL, 10) : 0;
  if (offset > len) {
    free(data);
    return ERR_PARAMS;
  }
  size_t chunk = len - offset > MEDIA_CHUNK ? MEDIA_CHUNK : len - offset;
  free(media->data);
  free(media->outindexbuf);
  media->data = malloc(chunk + 1);
  media->outindexbuf = malloc(32);
  if (!media->data || !media->outindexbuf) {
    free(data);
    return ERR_SYSTEM;
  }
  memcpy(media->data, data + offset, chunk);
  media->data_len = (int)chunk;
  snprintf(media->outindexbuf, 32, "%zu", offset + chunk);
  media->out_len = (int)strlen(media->outindexbuf);
  media->is_finish = offset + chunk >= len;
  free(data);
  return 0;
}
