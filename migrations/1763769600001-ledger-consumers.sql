-- Consumers that follow the ledger in seq order (a transactional outbox that is the ledger itself).
-- Because seq is gapless and commits happen in seq order, "everything after last_seq" never skips
-- a record: the dispatcher enqueues jobs for new records and then advances its cursor.

CREATE TABLE ledger_consumers (
    name       text        PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
    last_seq   bigint      NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

GRANT SELECT, INSERT, UPDATE ON ledger_consumers TO hireledger_app;
