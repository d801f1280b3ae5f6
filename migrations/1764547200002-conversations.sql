-- The conversations module (src/conversations): messages pulled for candidates, channel 1 微信客服 (KF).
--
-- The messages themselves are evidence records (conversation.message on the candidate's stream);
-- these tables hold only what the pull needs to go on where it stopped, and the media bytes the
-- records point at by SHA-256.

-- Where the pull of one KF account stands: WeCom's sync_msg cursor of the last page whose messages
-- are committed. It is written only in the transaction that appends that page's records, so a crash
-- between pages resumes at the first page not stored (neither skipped nor stored twice), and two
-- pulls of one account (a callback and the sweep) serialise on this row.
CREATE TABLE kf_cursors (
    corp_id         text        NOT NULL CHECK (length(corp_id) BETWEEN 1 AND 64),
    -- WeCom's id of the corp's account, kept exactly (DECISIONS 8).
    open_kfid       text        NOT NULL CHECK (length(open_kfid) BETWEEN 1 AND 128),
    -- null: never pulled; sync_msg then starts at the oldest message of the last 3 days. WeCom's
    -- cursor is at most 64 bytes; a little room in case it grows.
    cursor          text        CHECK (cursor IS NULL OR length(cursor) BETWEEN 1 AND 512),
    pages           bigint      NOT NULL DEFAULT 0 CHECK (pages >= 0),
    messages        bigint      NOT NULL DEFAULT 0 CHECK (messages >= 0),
    -- When the last page was committed: sync_msg reads only 3 days back, so a pull that resumes
    -- later than that records the window it may have lost.
    last_pulled_at  timestamptz,
    -- The gap recorded at the current cursor and not closed yet (the page keeps failing).
    open_gap_seq    bigint,
    open_gap_hash   text        CHECK (open_gap_hash IS NULL OR open_gap_hash ~ '^[0-9a-f]{64}$'),
    failures        integer     NOT NULL DEFAULT 0 CHECK (failures >= 0),
    last_error      text        CHECK (last_error IS NULL OR length(last_error) <= 2000),
    last_failed_at  timestamptz,
    PRIMARY KEY (corp_id, open_kfid),
    CHECK ((open_gap_seq IS NULL) = (open_gap_hash IS NULL))
);

-- Media objects, content-addressed within their owner (a candidate's opaque id; DECISIONS 11: the
-- same file from two candidates is two objects, so one person's media can be erased alone). The
-- bytes are here (MEDIA_STORE=pg) or in a file under MEDIA_DIR named by the same three keys
-- (MEDIA_STORE=fs); the row exists in both cases, inserted in the transaction of the
-- conversation.media record that first refers to it, so a stored object is always evidenced.
CREATE TABLE conversation_media (
    corp_id      text        NOT NULL CHECK (length(corp_id) BETWEEN 1 AND 64),
    owner        text        NOT NULL CHECK (owner ~ '^[a-z]{2}_[0-9a-f]{32}$'),
    sha256       text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size         bigint      NOT NULL CHECK (size >= 0),
    content_type text        NOT NULL CHECK (length(content_type) BETWEEN 1 AND 255),
    store        text        NOT NULL CHECK (store IN ('fs', 'pg')),
    data         bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (corp_id, owner, sha256),
    CHECK ((store = 'pg') = (data IS NOT NULL)),
    CHECK (data IS NULL OR length(data) = size)
);

-- Failed attempts to fetch a message's media (media/get), counted across job retries so that a
-- fetch that keeps failing is recorded as failed on the candidate's stream (conversation.media,
-- status failed), never dropped. Keyed by the message record's source_ref.
CREATE TABLE conversation_media_attempts (
    corp_id         text        NOT NULL,
    message_ref     text        NOT NULL CHECK (length(message_ref) BETWEEN 1 AND 512),
    attempts        integer     NOT NULL CHECK (attempts >= 0),
    last_error      text        CHECK (last_error IS NULL OR length(last_error) <= 2000),
    last_attempt_at timestamptz NOT NULL,
    PRIMARY KEY (corp_id, message_ref)
);

REVOKE ALL ON kf_cursors, conversation_media, conversation_media_attempts FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON kf_cursors, conversation_media_attempts TO hireledger_app;
-- Media is never changed by the app; erasure (DELETE) comes with the PIPL issue, under its own role.
GRANT SELECT, INSERT ON conversation_media TO hireledger_app;
