-- Channel 2 of the conversations module: the chat archive (会话内容存档, src/conversations/archive).
--
-- The archive numbers every item of the corp with its own `seq`, and HireLedger treats that seq as a
-- ledger: each item becomes exactly one outcome (a conversation.message or conversation.consent on
-- the candidate's stream, a conversation.placeholder when it cannot be decrypted, or an entry "left
-- out, and why" in the page record), and the page record on `conversation-archive:<corp>` lists
-- them all. The messages are evidence records; this table holds only where the pull stands.

-- Where the pull of one corp's archive stands: the largest seq whose item's outcome is committed.
-- Written only in the transaction that appends that page's records (ctx.transact), so a crash
-- between pages resumes at the first item not stored, neither skipped nor stored twice, and two
-- pulls (the msgaudit_notify callback and the scheduled job, or two workers) serialise on this row:
-- the second finds the seq moved and stops.
CREATE TABLE chat_archive_cursors (
    corp_id         text        NOT NULL PRIMARY KEY CHECK (length(corp_id) BETWEEN 1 AND 64),
    -- 0: never pulled; GetChatData then starts at the oldest item of the last five days.
    last_seq        bigint      NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    pages           bigint      NOT NULL DEFAULT 0 CHECK (pages >= 0),
    items           bigint      NOT NULL DEFAULT 0 CHECK (items >= 0),
    placeholders    bigint      NOT NULL DEFAULT 0 CHECK (placeholders >= 0),
    -- When a pull last reached the end of the archive (an empty page) or committed a page: WeCom keeps
    -- five days only, so a channel not pulled for days is losing messages; /health shows it.
    last_pulled_at  timestamptz,
    -- The SDK or WeCom refused the last attempt (10009 an IP not allowed, a wrong secret, …): not
    -- evidence (nothing was received), but what an operator must see; cleared by the next success.
    failures        integer     NOT NULL DEFAULT 0 CHECK (failures >= 0),
    last_error      text        CHECK (last_error IS NULL OR length(last_error) <= 2000),
    last_failed_at  timestamptz
);

REVOKE ALL ON chat_archive_cursors FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON chat_archive_cursors TO hireledger_app;
