-- The candidate timeline and completeness report (src/timeline, issue 9 items 4 and 5). Read only:
-- nothing here writes evidence; this adds one index.
--
-- A candidate's timeline reads the candidate's own stream through evidence_records_stream_seq
-- (stream, seq), which exists since the first migration, and the records it links by seq (the
-- primary key): no index is needed for that.
--
-- The completeness report also reads the gaps and placeholders recorded on the streams a channel
-- shares between candidates: a KF account's stream (`conversation:kf:<open_kfid>`, which also holds
-- the account's other events) and the corp's archive stream (`conversation-archive:<corp>`, one
-- page record per GetChatData page, for ever). Reading those streams whole for each report would
-- grow with the channel's whole history; these few kinds are all it needs. A partial index holds
-- only their rows, so it costs the append path nothing for every other record (no index entry is
-- written for a message), and finds a stream's gaps without touching its other records.
--
-- Kinds (src/conversations/names.ts, CONVERSATION_KINDS): gap, gap_closed, placeholder.
-- src/evidence/stream-verify.ts readStreamKinds() is its reader; a query for other kinds falls
-- back to (stream, seq).
CREATE INDEX evidence_records_channel_holes
    ON evidence_records (stream, seq)
    WHERE kind IN ('conversation.gap', 'conversation.gap_closed', 'conversation.placeholder');
