-- evidence_append(): every statement reads the batch's own rows and nodes, whatever the ledger holds
-- (issue 8, "the callback path's own cost").
--
-- PL/pgSQL caches the plans of a function's statements per connection. The statements below used
-- to select the batch by `seq > old_seq` (and the Merkle nodes by level alone): a generic plan,
-- costed while the table was small, or any plan made before the table had statistics (no
-- statistics: one third of the rows is assumed to match `seq > x`), scanned the whole table, or a
-- whole level of the tree, on every batch. PostgreSQL's CPU per appended record then grew with the
-- ledger (measured in bench:ingest and test/evidence/append-cost.test.ts: ~1,400 µs per record at
-- 20,000 records). Each predicate is now a closed range, which the planner estimates as small with
-- or without statistics and with or without the parameter values, so every plan is an index range
-- over the batch; and "no row beyond the batch" asks the primary key for its maximum.
-- Nothing else changes: same checks, same errors, same rows written.
CREATE OR REPLACE FUNCTION evidence_append(p_hash_version smallint, p_recorded_at timestamptz, p_rows jsonb, p_redeliveries jsonb)
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

    -- seq is the primary key, so n rows between old+1 and old+n are exactly old+1 .. old+n; and no
    -- row lies beyond new_seq when the largest seq is at most new_seq (one step down the index).
    IF coalesce((SELECT max(seq) FROM evidence_records), 0) > new_seq
       OR (SELECT count(*) FROM evidence_records WHERE seq > old_seq AND seq <= new_seq) <> n_rows THEN
        RAISE EXCEPTION 'batch seq must continue the counter (%) without gaps', old_seq USING ERRCODE = 'HL001';
    END IF;

    -- Each record links to the previous record of its stream: the stored head, then the batch.
    SELECT r.seq, r.stream INTO bad
      FROM (SELECT e.seq, e.stream, e.prev_hash,
                   coalesce(lag(e.hash) OVER (PARTITION BY e.stream ORDER BY e.seq), h.hash) AS expected
              FROM evidence_records e LEFT JOIN evidence_heads h ON h.stream = e.stream
             WHERE e.seq > old_seq AND e.seq <= new_seq) r
     WHERE r.prev_hash IS DISTINCT FROM r.expected
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'record % does not link to the head of stream %', bad.seq, bad.stream USING ERRCODE = 'HL001';
    END IF;

    INSERT INTO evidence_heads (stream, seq, hash)
    SELECT DISTINCT ON (e.stream) e.stream, e.seq, e.hash
      FROM evidence_records e WHERE e.seq > old_seq AND e.seq <= new_seq
     ORDER BY e.stream, e.seq DESC
    ON CONFLICT (stream) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash;

    -- The Merkle nodes the new leaves complete: at level L, idx in [old >> L, new >> L), each
    -- SHA-256(0x01 || left || right) of its two children (records at level 1, nodes above). The
    -- children are looked up by their own closed range, so no plan reads a whole level.
    WHILE (new_seq >> lvl) > (old_seq >> lvl) LOOP
        IF lvl = 1 THEN
            INSERT INTO evidence_merkle_nodes (level, idx, hash)
            SELECT 1, i, sha256('\x01'::bytea || decode(l.hash, 'hex') || decode(r.hash, 'hex'))
              FROM generate_series(old_seq >> 1, (new_seq >> 1) - 1) AS i
              JOIN evidence_records l ON l.seq = 2 * i + 1
                   AND l.seq >= 2 * (old_seq >> 1) + 1 AND l.seq <= 2 * (new_seq >> 1)
              JOIN evidence_records r ON r.seq = 2 * i + 2
                   AND r.seq >= 2 * (old_seq >> 1) + 1 AND r.seq <= 2 * (new_seq >> 1);
        ELSE
            INSERT INTO evidence_merkle_nodes (level, idx, hash)
            SELECT lvl, i, sha256('\x01'::bytea || l.hash || r.hash)
              FROM generate_series(old_seq >> lvl, (new_seq >> lvl) - 1) AS i
              JOIN evidence_merkle_nodes l ON l.level = lvl - 1 AND l.idx = 2 * i
                   AND l.idx >= 2 * (old_seq >> lvl) AND l.idx < 2 * (new_seq >> lvl)
              JOIN evidence_merkle_nodes r ON r.level = lvl - 1 AND r.idx = 2 * i + 1
                   AND r.idx >= 2 * (old_seq >> lvl) AND r.idx < 2 * (new_seq >> lvl);
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
