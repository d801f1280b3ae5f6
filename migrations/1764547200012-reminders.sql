-- Reminders (issue 10 item 6, docs/reminders.md). PostgreSQL owns every reminder: a BullMQ delayed
-- job is only its trigger (job id from the row id) and the sweeper re-arms pending rows that lost
-- theirs, so a wiped Redis loses none (NOTES: BullMQ is at-least-once, jobIds dedupe only while
-- the job exists). Sending is at most once: `sending` is committed before the request leaves and
-- the outcome after it; a row left in `sending` by a crash becomes `outcome_unknown` for a person
-- to look at and is never sent again by itself.
--
-- The row is the working state; the evidence is in the ledger (reminder.* records on the
-- subject's stream, and wecom.outbound.* for the message itself), written with the row changes in
-- one transaction through the ledger's decision path.

CREATE TABLE reminders (
    id              text        PRIMARY KEY CHECK (id ~ '^rm_[0-9a-f]{32}$'),
    corp_id         text        NOT NULL CHECK (length(corp_id) BETWEEN 1 AND 64),
    -- What the reminder is about (names.ts REMINDER_KINDS), e.g. 'offer.unanswered_24h'.
    kind            text        NOT NULL CHECK (kind ~ '^[a-z_]+\.[a-z0-9_]+$'),
    -- Who it is for: a member (recruiter, approver, hiring manager) or the candidate (reached by DECISIONS 12's routes).
    audience        text        NOT NULL CHECK (audience IN ('member', 'candidate', 'system')),
    -- The thing waited for: an offer id, an approval's sp_no, a candidate id.
    subject         text        NOT NULL CHECK (length(subject) BETWEEN 1 AND 128),
    -- The evidence stream its records go to (the candidate's own stream for an offer's reminders).
    stream          text        NOT NULL CHECK (length(stream) BETWEEN 1 AND 256),
    -- A member userid lower-cased (DECISIONS 8), the candidate's opaque id, or 'hireledger' for the system's own steps.
    recipient       text        NOT NULL CHECK (recipient = lower(recipient) OR audience = 'candidate'),
    due_at          timestamptz NOT NULL,
    state           text        NOT NULL DEFAULT 'pending'
                                CHECK (state IN ('pending', 'sending', 'sent', 'outcome_unknown', 'cancelled', 'failed')),
    -- The key of the send (wecom message/send idempotency key): one reminder, one message, ever.
    idempotency_key text        NOT NULL UNIQUE CHECK (idempotency_key ~ '^rk_[0-9a-f]{40}$'),
    -- The text as it will be sent (fixed when the reminder is made, so a re-run sends the same body).
    body            jsonb       NOT NULL CHECK (jsonb_typeof(body) = 'object'),
    -- The ledger record that caused it (offer.sent…): seq, for the timeline.
    cause_seq       bigint      NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    sending_at      timestamptz,
    outcome         jsonb,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CHECK ((state = 'pending') OR (state = 'cancelled') OR sending_at IS NOT NULL)
);

-- The sweeper's two questions: pending rows due soon, and rows stuck in `sending`.
CREATE INDEX reminders_pending_due ON reminders (corp_id, due_at) WHERE state = 'pending';
CREATE INDEX reminders_sending ON reminders (corp_id, sending_at) WHERE state = 'sending';
-- Cancellation finds the open reminders of a subject.
CREATE INDEX reminders_subject ON reminders (corp_id, subject) WHERE state IN ('pending', 'sending');

-- No DELETE: a reminder's row stays as long as the evidence that mentions it.
GRANT SELECT, INSERT, UPDATE ON reminders TO hireledger_app;
