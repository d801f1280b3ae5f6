-- The offers module (src/offers, docs/offers.md): offers, their versions, and where each stands.
--
-- Every row written here commits with the offer.* record that justifies it (ledger.transact, on the
-- candidate's stream): these tables are the current state, the ledger is the history. An offer is
-- named by an opaque random id, `of_<32 hex>` (DECISIONS 4), never by anything about the person.
--
-- Money is in whole yuan (integers), like positions.salary_min/max: see docs/offers.md.

CREATE TABLE offers (
    id              text        PRIMARY KEY CHECK (id ~ '^of_[0-9a-f]{32}$'),
    corp_id         text        NOT NULL CHECK (length(corp_id) BETWEEN 1 AND 64),
    candidate_id    text        NOT NULL,
    position_id     text        NOT NULL,
    -- The state machine of src/offers/machine.ts; the app moves it only inside a decision that
    -- locks this row (SELECT … FOR UPDATE), so two concurrent transitions cannot both apply.
    state           text        NOT NULL CHECK (state IN ('draft', 'pending_approval', 'approved', 'sent', 'accepted',
                                    'declined', 'expired', 'rescinded', 'reneged', 'onboarded', 'cancelled')),
    current_version integer     NOT NULL CHECK (current_version >= 1),
    -- How many offer.* records this offer has: record n has source_ref `offer:<id>:<n>`, so a step
    -- can never be recorded twice (the ledger refuses a duplicate source_ref and rolls back).
    steps           integer     NOT NULL CHECK (steps >= 1),
    -- The member who drafted it, lower-cased (DECISIONS 8).
    created_by      text        NOT NULL CHECK (created_by = lower(created_by) AND length(created_by) BETWEEN 1 AND 256),
    -- Millisecond precision, like everything the evidence covers (DECISIONS 6).
    created_at      timestamptz NOT NULL CHECK (created_at = date_trunc('milliseconds', created_at)),
    updated_at      timestamptz NOT NULL CHECK (updated_at = date_trunc('milliseconds', updated_at)),
    UNIQUE (corp_id, id),
    FOREIGN KEY (corp_id, candidate_id) REFERENCES candidates (corp_id, id),
    FOREIGN KEY (corp_id, position_id) REFERENCES positions (corp_id, id)
);
CREATE INDEX offers_candidate ON offers (corp_id, candidate_id);
-- At most one open offer per candidate and position: a change of terms is a new version of that
-- offer, never a second offer beside it. Ended offers (the terminal states) stay as history. The
-- list must match TERMINAL_STATES in src/offers/machine.ts (draftOffer's ON CONFLICT names it).
CREATE UNIQUE INDEX offers_one_open_per_position ON offers (corp_id, candidate_id, position_id)
    WHERE state NOT IN ('declined', 'expired', 'rescinded', 'reneged', 'onboarded', 'cancelled');

-- One row per version of the terms. A change of terms is a new row (never an UPDATE of content:
-- the app role has no right to), and needs its own approval. content is the canonical offer
-- content (schema offer.content/1, src/offers/content.ts); content_sha256 is SHA-256 of its RFC 8785
-- canonical JSON, the hash an approver sees in WeCom and the send gate compares.
CREATE TABLE offer_versions (
    offer_id                text        NOT NULL REFERENCES offers (id),
    version                 integer     NOT NULL CHECK (version >= 1),
    content                 jsonb       NOT NULL CHECK (jsonb_typeof(content) = 'object'),
    content_sha256          text        NOT NULL CHECK (content_sha256 ~ '^[0-9a-f]{64}$'),
    created_by              text        NOT NULL CHECK (created_by = lower(created_by) AND length(created_by) BETWEEN 1 AND 256),
    created_at              timestamptz NOT NULL CHECK (created_at = date_trunc('milliseconds', created_at)),
    -- The WeCom approval of this version: none yet, pending, or its outcome. Only an outcome that
    -- applied to the current version is written here; others are records only.
    approval_status         text        NOT NULL DEFAULT 'none'
                                        CHECK (approval_status IN ('none', 'pending', 'approved', 'rejected', 'revoked',
                                                                   'revoked_after_approval')),
    -- WeCom's SpNo, case-sensitive (DECISIONS 8).
    approval_sp_no          text        CHECK (approval_sp_no IS NULL OR length(approval_sp_no) BETWEEN 1 AND 64),
    -- The hash the approval approved (what the approver was shown); the gate requires it to equal
    -- both content_sha256 and the hash of content as stored now.
    approved_content_sha256 text        CHECK (approved_content_sha256 IS NULL OR approved_content_sha256 ~ '^[0-9a-f]{64}$'),
    approval_decided_at     timestamptz CHECK (approval_decided_at = date_trunc('milliseconds', approval_decided_at)),
    PRIMARY KEY (offer_id, version),
    CHECK ((approval_status = 'approved') = (approved_content_sha256 IS NOT NULL))
);

-- Every approval outcome reported for a version (by the approvals module, from callbacks and
-- reconciliation), once per (version, SpNo, status): the same outcome reported again is a
-- redelivery and changes and records nothing. `step` names the offer.* record written for it
-- (offer.approved, …, or offer.approval_outcome when it did not apply, with `why`).
CREATE TABLE offer_approval_outcomes (
    offer_id                text        NOT NULL,
    version                 integer     NOT NULL,
    sp_no                   text        NOT NULL CHECK (length(sp_no) BETWEEN 1 AND 64),
    status                  text        NOT NULL CHECK (status IN ('approved', 'rejected', 'revoked', 'revoked_after_approval')),
    reported_content_sha256 text        NOT NULL CHECK (reported_content_sha256 ~ '^[0-9a-f]{64}$'),
    applied                 boolean     NOT NULL,
    why                     text        CHECK (applied = (why IS NULL)),
    step                    integer     NOT NULL,
    recorded_at             timestamptz NOT NULL CHECK (recorded_at = date_trunc('milliseconds', recorded_at)),
    PRIMARY KEY (offer_id, version, sp_no, status),
    FOREIGN KEY (offer_id, version) REFERENCES offer_versions (offer_id, version)
);

-- An offer's current version exists (checked at COMMIT: the offer row and its first version are
-- written in one transaction, in either order).
ALTER TABLE offers ADD CONSTRAINT offers_current_version_exists
    FOREIGN KEY (id, current_version) REFERENCES offer_versions (offer_id, version) DEFERRABLE INITIALLY DEFERRED;

REVOKE ALL ON offers, offer_versions, offer_approval_outcomes FROM PUBLIC;
-- Only the state and the step counter of an offer change; a version's terms never do, only what its
-- approval said. Nothing is deleted by the app (erasure comes with the PIPL issue, under its own role).
GRANT SELECT, INSERT, UPDATE (state, current_version, steps, updated_at) ON offers TO hireledger_app;
GRANT SELECT, INSERT, UPDATE (approval_status, approval_sp_no, approved_content_sha256, approval_decided_at)
    ON offer_versions TO hireledger_app;
GRANT SELECT, INSERT ON offer_approval_outcomes TO hireledger_app;
