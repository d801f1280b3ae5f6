-- A ledger consumer's progress follows completed work, not enqueued jobs (issue 7, item 7).
--
-- Before: ledger_consumers.last_seq moved when a record's job was enqueued, so a Redis wiped between
-- the enqueue and the job lost the job's work for good. Now:
--   * last_seq still says how far records have been enqueued;
--   * ledger_consumer_done holds one row per record a consumer has done (or given up on), written
--     in the same transaction as the work's own rows, which makes a repeated job a no-op;
--   * done_seq says that every record up to it is done, so the sweeper that enqueues again what
--     Redis lost looks only past it.
-- Rows of ledger_consumer_done are kept: they say which consumer did what, and when.

ALTER TABLE ledger_consumers
    ADD COLUMN done_seq bigint NOT NULL DEFAULT 0 CHECK (done_seq >= 0),
    ADD CONSTRAINT ledger_consumers_done_not_ahead CHECK (done_seq <= last_seq);

-- The consumer `wecom-callbacks` (the callback dispatcher before modules) is retired: its jobs ran no
-- handler, since none was registered. Its row stays, marked done where it stopped.
UPDATE ledger_consumers SET done_seq = last_seq;

CREATE TABLE ledger_consumer_done (
    consumer text        NOT NULL CHECK (length(consumer) BETWEEN 1 AND 64),
    seq      bigint      NOT NULL CHECK (seq > 0),
    -- failed: given up on by the job policy; its hireledger.job.failed record says why.
    outcome  text        NOT NULL CHECK (outcome IN ('done', 'failed')),
    done_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, seq)
);
COMMENT ON TABLE ledger_consumer_done IS 'Records each ledger consumer has done, committed with the work itself (src/jobs/progress.ts).';

REVOKE ALL ON ledger_consumer_done FROM PUBLIC;
-- Marks are never changed or removed by the application: a record done stays done.
GRANT SELECT, INSERT ON ledger_consumer_done TO hireledger_app;
