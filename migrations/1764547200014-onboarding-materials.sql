-- Onboarding materials (issue 10 item 6, docs/onboarding.md): a minimal checklist. What each
-- position requires is a row an admin edits (no deploy); per accepted offer, each material the
-- recruiter marked received is a row here, written in the same transaction as its
-- onboarding.material_received record on the candidate's stream (the evidence). Uploads come with
-- onboarding later: a row says "the recruiter holds it", not what it contains.

-- What a position requires. Rows of corp_id '*' / position_id '*' are the shipped default; a corp's
-- row for '*' replaces it for every position of the corp, a corp's row for a position replaces both
-- for that position. Checked by src/onboarding/materials.ts (requiredMaterials).
CREATE TABLE onboarding_requirements (
    corp_id     text        NOT NULL CHECK (corp_id = '*' OR corp_id ~ '^[A-Za-z0-9_-]{1,64}$'),
    position_id text        NOT NULL CHECK (length(position_id) BETWEEN 1 AND 128),
    -- Names shown to the candidate and the recruiter, in order; each 1–64 characters, no duplicates.
    materials   text[]      NOT NULL CHECK (cardinality(materials) BETWEEN 1 AND 30),
    updated_by  text        NOT NULL CHECK (updated_by = lower(updated_by) AND length(updated_by) BETWEEN 1 AND 256),
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (corp_id, position_id)
);

INSERT INTO onboarding_requirements (corp_id, position_id, materials, updated_by, updated_at) VALUES
    ('*', '*', ARRAY['身份证复印件', '学历学位证书', '离职证明', '体检报告', '银行卡信息'], 'hireledger', '2026-12-01T00:00:00Z');

-- One row per (offer, material) received. Never updated or deleted: a mark made in error is a
-- matter for a person and the ledger, not a silent edit.
CREATE TABLE onboarding_materials (
    corp_id      text        NOT NULL CHECK (length(corp_id) BETWEEN 1 AND 64),
    offer_id     text        NOT NULL REFERENCES offers (id),
    material     text        NOT NULL CHECK (length(material) BETWEEN 1 AND 64),
    received_by  text        NOT NULL CHECK (received_by = lower(received_by) AND length(received_by) BETWEEN 1 AND 256),
    received_at  timestamptz NOT NULL CHECK (received_at = date_trunc('milliseconds', received_at)),
    note         text        NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    PRIMARY KEY (offer_id, material)
);

REVOKE ALL ON onboarding_requirements, onboarding_materials FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON onboarding_requirements TO hireledger_app;
GRANT SELECT, INSERT ON onboarding_materials TO hireledger_app;
