-- Evidence ledger: an append-only, hash-chained record of everything HireLedger received or did.
-- The exact hashed encoding is specified in docs/evidence-format.md.
--
-- Invariants, each enforced here and not only in code:
--   * seq is global and gapless: taken from evidence_counter under a row lock in the same transaction.
--   * one chain per stream: no two records of a stream share a prev_hash (no forks), including the
--     first record (prev_hash NULL), hence NULLS NOT DISTINCT.
--   * (source, source_ref) is unique, which makes appends idempotent.
--   * rows are never updated, deleted or truncated: triggers refuse it for every role, and the
--     application role is granted SELECT and INSERT only.

CREATE TABLE evidence_records (
    seq          bigint      PRIMARY KEY CHECK (seq > 0),
    hash_version smallint    NOT NULL,
    stream       text        NOT NULL CHECK (length(stream) BETWEEN 1 AND 256),
    kind         text        NOT NULL CHECK (length(kind) BETWEEN 1 AND 128),
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL,
    actor        text        NOT NULL CHECK (length(actor) <= 256),
    source       text        NOT NULL CHECK (length(source) BETWEEN 1 AND 64),
    source_ref   text        NOT NULL CHECK (length(source_ref) BETWEEN 1 AND 512),
    payload      jsonb       NOT NULL,
    raw          jsonb,
    payload_sha256 text      NOT NULL CHECK (payload_sha256 ~ '^[0-9a-f]{64}$'),
    raw_sha256   text        CHECK (raw_sha256 ~ '^[0-9a-f]{64}$'),
    prev_hash    text        CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
    hash         text        NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
    CONSTRAINT evidence_records_raw_digest CHECK ((raw IS NULL) = (raw_sha256 IS NULL)),
    CONSTRAINT evidence_records_source_ref_key UNIQUE (source, source_ref),
    CONSTRAINT evidence_records_no_fork UNIQUE NULLS NOT DISTINCT (stream, prev_hash)
);

-- A stream's timeline in order, without touching other streams' rows.
CREATE INDEX evidence_records_stream_seq ON evidence_records (stream, seq);

COMMENT ON TABLE evidence_records IS 'Append-only evidence ledger. See docs/evidence-format.md.';
COMMENT ON COLUMN evidence_records.occurred_at IS 'The source''s clock (WeCom CreateTime, msgtime, SpTime), UTC.';
COMMENT ON COLUMN evidence_records.recorded_at IS 'The database clock when the record was appended, UTC.';
COMMENT ON COLUMN evidence_records.raw IS 'Exactly what was received (for a callback: query string and body), or NULL.';
COMMENT ON COLUMN evidence_records.payload_sha256 IS 'SHA-256 of the RFC 8785 encoding of payload; the record hash covers this digest, not the content.';

-- The single source of seq. Locking this row serialises appends across all processes, which is
-- what makes seq gapless and commit order equal seq order (the dispatcher relies on that).
CREATE TABLE evidence_counter (
    id               smallint    PRIMARY KEY CHECK (id = 1),
    last_seq         bigint      NOT NULL CHECK (last_seq >= 0),
    -- recorded_at of the newest record: the next one is never earlier, even if the database
    -- clock steps back, so recorded_at never decreases along seq.
    last_recorded_at timestamptz NOT NULL DEFAULT 'epoch'
);
INSERT INTO evidence_counter (id, last_seq) VALUES (1, 0);

-- Latest record of each stream: where the next append links to. Derived data, rebuilt by verify
-- if ever needed; the verifier also compares it with the chains to catch a cut-off tail.
CREATE TABLE evidence_heads (
    stream text   PRIMARY KEY,
    seq    bigint NOT NULL REFERENCES evidence_records (seq),
    hash   text   NOT NULL
);

-- A redelivered item (same source and source_ref) is counted here instead of stored twice.
CREATE TABLE evidence_redeliveries (
    source        text        NOT NULL,
    source_ref    text        NOT NULL,
    seq           bigint      NOT NULL REFERENCES evidence_records (seq),
    deliveries    integer     NOT NULL CHECK (deliveries > 0),
    last_seen_at  timestamptz NOT NULL,
    PRIMARY KEY (source, source_ref)
);

CREATE FUNCTION evidence_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'evidence_records is append-only: % is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Record a correction as a new evidence record that references the old one.';
END;
$$;

CREATE TRIGGER evidence_records_no_update_delete
    BEFORE UPDATE OR DELETE ON evidence_records
    FOR EACH ROW EXECUTE FUNCTION evidence_refuse_change();

CREATE TRIGGER evidence_records_no_truncate
    BEFORE TRUNCATE ON evidence_records
    FOR EACH STATEMENT EXECUTE FUNCTION evidence_refuse_change();

-- Privileges. The service should log in as a role that is a member of hireledger_app, never as
-- the owner of these tables (see docs/operations.md). Roles are cluster-wide, so create it once.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'hireledger_app') THEN
        CREATE ROLE hireledger_app NOLOGIN;
    END IF;
END;
$$;

REVOKE ALL ON evidence_records, evidence_counter, evidence_heads, evidence_redeliveries FROM PUBLIC;
GRANT SELECT, INSERT ON evidence_records TO hireledger_app;
GRANT SELECT, UPDATE ON evidence_counter TO hireledger_app;
GRANT SELECT, INSERT, UPDATE ON evidence_heads, evidence_redeliveries TO hireledger_app;
