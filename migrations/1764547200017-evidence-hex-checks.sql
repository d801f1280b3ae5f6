-- The ledger's four digest columns keep exactly the same rule (64 lower-case hex digits, NULL
-- allowed where it was), written without a regular expression.
--
-- Why: PostgreSQL runs a CHECK's regular expression through its regex engine for every row, and
-- for evidence_records those four were a fifth of PostgreSQL's CPU per appended record (measured
-- with `npm run bench:append`, batches of 64: 213-234 µs per record with the regexes, 166-173 µs
-- with none, 179-193 µs with the form below; README "Where the time goes"). ltrim(x, set) removes
-- every leading character in the set, so it is empty exactly when all 64 characters are hex digits.
--
-- Deploying: the migration runs in one transaction, and ALTER TABLE holds evidence_records
-- exclusively until it commits, while the new checks read every stored row once (one sequential
-- scan of the table): appends wait that long, and callbacks waiting over CALLBACK_STORE_TIMEOUT_MS
-- get 503 and are retried by WeCom. On a large ledger, run it in a quiet hour. The names stay.

ALTER TABLE evidence_records
    DROP CONSTRAINT evidence_records_payload_sha256_check,
    DROP CONSTRAINT evidence_records_raw_sha256_check,
    DROP CONSTRAINT evidence_records_prev_hash_check,
    DROP CONSTRAINT evidence_records_hash_check,
    ADD CONSTRAINT evidence_records_payload_sha256_check
        CHECK (length(payload_sha256) = 64 AND ltrim(payload_sha256, '0123456789abcdef') = ''),
    ADD CONSTRAINT evidence_records_raw_sha256_check
        CHECK (length(raw_sha256) = 64 AND ltrim(raw_sha256, '0123456789abcdef') = ''),
    ADD CONSTRAINT evidence_records_prev_hash_check
        CHECK (length(prev_hash) = 64 AND ltrim(prev_hash, '0123456789abcdef') = ''),
    ADD CONSTRAINT evidence_records_hash_check
        CHECK (length(hash) = 64 AND ltrim(hash, '0123456789abcdef') = '');
