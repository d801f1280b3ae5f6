-- The ledger's four digest columns keep exactly the same rule (64 lower-case hex digits, NULL
-- allowed where it was), written without a regular expression.
--
-- Why: PostgreSQL runs a CHECK's regular expression through its regex engine for every row, and
-- for evidence_records those four were a fifth of PostgreSQL's CPU per appended record (measured
-- with bench/pg-append-probe: ~210 µs per record with the regexes, ~170 µs with none, ~180 µs with
-- the form below; README "Where the time goes"). ltrim(x, set) removes every leading character in
-- the set, so it is empty exactly when all 64 characters are hex digits.
--
-- NOT VALID, then VALIDATE: the new checks are enforced for new rows at once, and the existing rows
-- are checked without blocking appends (VALIDATE takes SHARE UPDATE EXCLUSIVE). The names stay.

ALTER TABLE evidence_records
    DROP CONSTRAINT evidence_records_payload_sha256_check,
    DROP CONSTRAINT evidence_records_raw_sha256_check,
    DROP CONSTRAINT evidence_records_prev_hash_check,
    DROP CONSTRAINT evidence_records_hash_check,
    ADD CONSTRAINT evidence_records_payload_sha256_check
        CHECK (length(payload_sha256) = 64 AND ltrim(payload_sha256, '0123456789abcdef') = '') NOT VALID,
    ADD CONSTRAINT evidence_records_raw_sha256_check
        CHECK (length(raw_sha256) = 64 AND ltrim(raw_sha256, '0123456789abcdef') = '') NOT VALID,
    ADD CONSTRAINT evidence_records_prev_hash_check
        CHECK (length(prev_hash) = 64 AND ltrim(prev_hash, '0123456789abcdef') = '') NOT VALID,
    ADD CONSTRAINT evidence_records_hash_check
        CHECK (length(hash) = 64 AND ltrim(hash, '0123456789abcdef') = '') NOT VALID;

ALTER TABLE evidence_records VALIDATE CONSTRAINT evidence_records_payload_sha256_check;
ALTER TABLE evidence_records VALIDATE CONSTRAINT evidence_records_raw_sha256_check;
ALTER TABLE evidence_records VALIDATE CONSTRAINT evidence_records_prev_hash_check;
ALTER TABLE evidence_records VALIDATE CONSTRAINT evidence_records_hash_check;
