-- The evidence append path, least privilege, precision, and the Merkle tree (issue 6).
--
-- Before this migration the application role could UPDATE evidence_counter and evidence_heads,
-- which the verifier trusts, and INSERT arbitrary rows. Now it may only:
--   * read the ledger (SELECT),
--   * take the ledger lock (evidence_lock()), and
--   * append through evidence_append(), which checks every invariant the verifier relies on
--     (gapless seq continuing the counter, each record linked to its stream's head, recorded_at
--     never decreasing and never ahead of the database clock, exactly the Merkle nodes the new
--     leaves complete) and moves the counter, heads and redelivery counts itself.
-- Both functions are SECURITY DEFINER: they run with the rights of the owner of these tables,
-- the role that runs migrations, which the API and the worker must never log in as. Their
-- search_path ends in pg_temp explicitly: otherwise PostgreSQL searches the caller's temporary
-- schema first, and a temporary table named evidence_counter would stand in for the real one.

-- Precision (DECISIONS 6): the database keeps exactly what the hash covers. New rows only;
-- existing rows are never rewritten (NOT VALID skips the check of rows already stored).
ALTER TABLE evidence_records
    ADD CONSTRAINT evidence_records_millisecond_precision CHECK (
        occurred_at = date_trunc('milliseconds', occurred_at)
        AND recorded_at = date_trunc('milliseconds', recorded_at)
    ) NOT VALID,
    -- ISO 8601 with a four-digit year is the hashed form; years past 9999 cannot be written.
    ADD CONSTRAINT evidence_records_four_digit_year CHECK (
        occurred_at >= '0001-01-01T00:00:00Z' AND occurred_at < '10000-01-01T00:00:00Z'
        AND recorded_at >= '0001-01-01T00:00:00Z' AND recorded_at < '10000-01-01T00:00:00Z'
    ) NOT VALID;

-- RFC 9162 Merkle tree over all records in seq order (leaf index = seq - 1; the leaf hash is the
-- record's hash). Stored: every complete, aligned subtree of level >= 1, i.e. node (level, idx)
-- is the root of leaves [idx * 2^level, (idx + 1) * 2^level). Level 0 is evidence_records.hash.
-- About one row per record; any inclusion or consistency proof needs O(log n) of them.
CREATE TABLE evidence_merkle_nodes (
    level smallint NOT NULL CHECK (level BETWEEN 1 AND 62),
    idx   bigint   NOT NULL CHECK (idx >= 0),
    hash  bytea    NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
);
COMMENT ON TABLE evidence_merkle_nodes IS 'RFC 9162 Merkle tree nodes (level >= 1) over evidence_records in seq order; written only by evidence_append().';

CREATE TRIGGER evidence_merkle_nodes_no_update_delete
    BEFORE UPDATE OR DELETE ON evidence_merkle_nodes
    FOR EACH ROW EXECUTE FUNCTION evidence_refuse_change();
CREATE TRIGGER evidence_merkle_nodes_no_truncate
    BEFORE TRUNCATE ON evidence_merkle_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION evidence_refuse_change();

-- Nodes for the records stored before this migration, so the tree covers the whole ledger.
-- Built bottom-up from the stored leaf hashes; pairs exist only where both children do.
DO $$
DECLARE
    lvl smallint := 1;
    added bigint;
BEGIN
    INSERT INTO evidence_merkle_nodes (level, idx, hash)
    SELECT 1, (l.seq - 1) / 2, sha256('\x01'::bytea || decode(l.hash, 'hex') || decode(r.hash, 'hex'))
      FROM evidence_records l JOIN evidence_records r ON r.seq = l.seq + 1
     WHERE l.seq % 2 = 1;
    LOOP
        INSERT INTO evidence_merkle_nodes (level, idx, hash)
        SELECT lvl + 1, l.idx / 2, sha256('\x01'::bytea || l.hash || r.hash)
          FROM evidence_merkle_nodes l JOIN evidence_merkle_nodes r ON r.level = lvl AND r.idx = l.idx + 1
         WHERE l.level = lvl AND l.idx % 2 = 0;
        GET DIAGNOSTICS added = ROW_COUNT;
        EXIT WHEN added = 0;
        lvl := lvl + 1;
    END LOOP;
END;
$$;

-- The recorded_at that evidence_lock() stamped for the batch now being appended: evidence_append()
-- accepts exactly this value, so a caller cannot backdate its records. NULL between batches.
ALTER TABLE evidence_counter ADD COLUMN pending_recorded_at timestamptz;

-- Takes the ledger lock (serialising appends across all processes; commit order = seq order) and
-- returns where the ledger stands and the clock to stamp the batch with. The clock is read after
-- the lock is held, so recorded_at is the moment of appending, not the moment the batch began to
-- wait, and it never goes back along seq even if the database clock steps back.
CREATE FUNCTION evidence_lock(OUT last_seq bigint, OUT last_recorded_at timestamptz, OUT now timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    SELECT c.last_seq, c.last_recorded_at INTO last_seq, last_recorded_at
      FROM evidence_counter c WHERE c.id = 1 FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'evidence_counter has no row' USING ERRCODE = 'data_corrupted';
    END IF;
    now := greatest(date_trunc('milliseconds', clock_timestamp()), last_recorded_at);
    UPDATE evidence_counter SET pending_recorded_at = now WHERE id = 1;
END;
$$;

-- Appends one batch. p_rows: [{seq, stream, kind, occurred_at, actor, source, source_ref, payload,
-- raw, payload_sha256, raw_sha256, prev_hash, hash}], p_redeliveries: [{source, source_ref, n}].
-- Record hashes are computed by the caller (the format is JCS, which SQL does not speak) and
-- re-checked by the verifier; everything structural is checked here, and the Merkle nodes are
-- computed here from the stored hashes, so the tree a checkpoint signs is always the tree of the
-- records. Any violation raises 'HL001' and nothing of the batch is written.
CREATE FUNCTION evidence_append(p_hash_version smallint, p_recorded_at timestamptz, p_rows jsonb, p_redeliveries jsonb)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    old_seq bigint;
    stamp timestamptz;
    new_seq bigint;
    n_rows bigint;
    bad record;
    lvl int := 1;
    n_nodes bigint;
BEGIN
    SELECT c.last_seq, c.pending_recorded_at INTO old_seq, stamp
      FROM evidence_counter c WHERE c.id = 1 FOR UPDATE;
    IF stamp IS NULL OR p_recorded_at IS DISTINCT FROM stamp THEN
        RAISE EXCEPTION 'recorded_at must be the time evidence_lock() gave this transaction (%)', stamp
            USING ERRCODE = 'HL001';
    END IF;

    INSERT INTO evidence_records
        (seq, hash_version, stream, kind, occurred_at, recorded_at, actor, source, source_ref,
         payload, raw, payload_sha256, raw_sha256, prev_hash, hash)
    SELECT q.seq, p_hash_version, q.stream, q.kind, q.occurred_at, p_recorded_at, q.actor, q.source, q.source_ref,
           q.payload, q.raw, q.payload_sha256, q.raw_sha256, q.prev_hash, q.hash
      FROM jsonb_to_recordset(p_rows) AS q(seq bigint, stream text, kind text, occurred_at timestamptz, actor text,
           source text, source_ref text, payload jsonb, raw jsonb, payload_sha256 text, raw_sha256 text,
           prev_hash text, hash text);
    GET DIAGNOSTICS n_rows = ROW_COUNT;
    new_seq := old_seq + n_rows;

    -- seq is the primary key, so n rows between old+1 and old+n are exactly old+1 .. old+n.
    IF EXISTS (SELECT 1 FROM evidence_records WHERE seq > new_seq)
       OR (SELECT count(*) FROM evidence_records WHERE seq > old_seq AND seq <= new_seq) <> n_rows THEN
        RAISE EXCEPTION 'batch seq must continue the counter (%) without gaps', old_seq USING ERRCODE = 'HL001';
    END IF;

    -- Each record links to the previous record of its stream: the stored head, then the batch.
    SELECT r.seq, r.stream INTO bad
      FROM (SELECT e.seq, e.stream, e.prev_hash,
                   coalesce(lag(e.hash) OVER (PARTITION BY e.stream ORDER BY e.seq), h.hash) AS expected
              FROM evidence_records e LEFT JOIN evidence_heads h ON h.stream = e.stream
             WHERE e.seq > old_seq) r
     WHERE r.prev_hash IS DISTINCT FROM r.expected
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'record % does not link to the head of stream %', bad.seq, bad.stream USING ERRCODE = 'HL001';
    END IF;

    INSERT INTO evidence_heads (stream, seq, hash)
    SELECT DISTINCT ON (e.stream) e.stream, e.seq, e.hash
      FROM evidence_records e WHERE e.seq > old_seq
     ORDER BY e.stream, e.seq DESC
    ON CONFLICT (stream) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash;

    -- The Merkle nodes the new leaves complete: at level L, idx in [old >> L, new >> L), each
    -- SHA-256(0x01 || left || right) of its two children (records at level 1, nodes above).
    WHILE (new_seq >> lvl) > (old_seq >> lvl) LOOP
        IF lvl = 1 THEN
            INSERT INTO evidence_merkle_nodes (level, idx, hash)
            SELECT 1, i, sha256('\x01'::bytea || decode(l.hash, 'hex') || decode(r.hash, 'hex'))
              FROM generate_series(old_seq >> 1, (new_seq >> 1) - 1) AS i
              JOIN evidence_records l ON l.seq = 2 * i + 1
              JOIN evidence_records r ON r.seq = 2 * i + 2;
        ELSE
            INSERT INTO evidence_merkle_nodes (level, idx, hash)
            SELECT lvl, i, sha256('\x01'::bytea || l.hash || r.hash)
              FROM generate_series(old_seq >> lvl, (new_seq >> lvl) - 1) AS i
              JOIN evidence_merkle_nodes l ON l.level = lvl - 1 AND l.idx = 2 * i
              JOIN evidence_merkle_nodes r ON r.level = lvl - 1 AND r.idx = 2 * i + 1;
        END IF;
        GET DIAGNOSTICS n_nodes = ROW_COUNT;
        IF n_nodes <> (new_seq >> lvl) - (old_seq >> lvl) THEN
            RAISE EXCEPTION 'Merkle level % is missing children', lvl USING ERRCODE = 'HL001';
        END IF;
        lvl := lvl + 1;
    END LOOP;

    INSERT INTO evidence_redeliveries (source, source_ref, seq, deliveries, last_seen_at)
    SELECT d.source, d.source_ref, e.seq, d.n + 1, p_recorded_at
      FROM jsonb_to_recordset(p_redeliveries) AS d(source text, source_ref text, n int)
      JOIN evidence_records e ON e.source = d.source AND e.source_ref = d.source_ref
     WHERE d.n > 0
    ON CONFLICT (source, source_ref) DO UPDATE
       SET deliveries = evidence_redeliveries.deliveries + EXCLUDED.deliveries - 1,
           last_seen_at = EXCLUDED.last_seen_at;

    UPDATE evidence_counter SET last_seq = new_seq, last_recorded_at = p_recorded_at, pending_recorded_at = NULL
     WHERE id = 1;
    RETURN new_seq;
END;
$$;

REVOKE ALL ON FUNCTION evidence_lock(), evidence_append(smallint, timestamptz, jsonb, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION evidence_lock(), evidence_append(smallint, timestamptz, jsonb, jsonb) TO hireledger_app;

-- The application role reads the ledger and appends only through the functions above.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON evidence_records, evidence_counter, evidence_heads, evidence_redeliveries
    FROM hireledger_app;
GRANT SELECT ON evidence_records, evidence_counter, evidence_heads, evidence_redeliveries, evidence_merkle_nodes
    TO hireledger_app;
REVOKE ALL ON evidence_merkle_nodes FROM PUBLIC;

-- Signed checkpoints of the Merkle tree (C2SP tlog-checkpoint in a signed note, Ed25519) and the
-- attempts to witness each one outside this database. The private key never comes near the
-- database; a checkpoint here is only a copy: the witnesses (a WeCom group, an RFC 3161 TSA) and
-- anyone who fetched GET /evidence/checkpoint hold the copies that matter.
CREATE TABLE evidence_checkpoints (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    origin     text        NOT NULL CHECK (length(origin) BETWEEN 1 AND 256),
    tree_size  bigint      NOT NULL CHECK (tree_size >= 0),
    root_hash  bytea       NOT NULL CHECK (length(root_hash) = 32),
    -- The signed note exactly as published (body, blank line, signature lines).
    note       text        NOT NULL,
    key_id     text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX evidence_checkpoints_created ON evidence_checkpoints (created_at);

CREATE TABLE evidence_checkpoint_witnesses (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    checkpoint_id bigint      NOT NULL REFERENCES evidence_checkpoints (id),
    witness       text        NOT NULL CHECK (length(witness) BETWEEN 1 AND 64),
    status        text        NOT NULL CHECK (status IN ('ok', 'failed')),
    attempted_at  timestamptz NOT NULL,
    -- What was sent and the witness's whole answer (WeCom's JSON, or the RFC 3161 response).
    request       jsonb,
    response      jsonb,
    token         bytea,
    error         text
);
CREATE INDEX evidence_checkpoint_witnesses_checkpoint ON evidence_checkpoint_witnesses (checkpoint_id, witness);

CREATE TRIGGER evidence_checkpoints_no_update_delete
    BEFORE UPDATE OR DELETE ON evidence_checkpoints
    FOR EACH ROW EXECUTE FUNCTION evidence_refuse_change();
CREATE TRIGGER evidence_checkpoints_no_truncate
    BEFORE TRUNCATE ON evidence_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION evidence_refuse_change();
CREATE TRIGGER evidence_checkpoint_witnesses_no_update_delete
    BEFORE UPDATE OR DELETE ON evidence_checkpoint_witnesses
    FOR EACH ROW EXECUTE FUNCTION evidence_refuse_change();
CREATE TRIGGER evidence_checkpoint_witnesses_no_truncate
    BEFORE TRUNCATE ON evidence_checkpoint_witnesses
    FOR EACH STATEMENT EXECUTE FUNCTION evidence_refuse_change();

REVOKE ALL ON evidence_checkpoints, evidence_checkpoint_witnesses FROM PUBLIC;
GRANT SELECT, INSERT ON evidence_checkpoints, evidence_checkpoint_witnesses TO hireledger_app;
