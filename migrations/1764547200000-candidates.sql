-- The candidates module (src/candidates): who a candidate is, how HireLedger knows them, and which
-- position they came for.
--
-- A candidate is named in evidence only by an opaque random id, `cd_<32 hex>` (DECISIONS 4): the
-- hashed header of a record stays in every proof for ever. Everything that identifies the person
-- (external_userid, profile, the HMACs of a phone or ID number) lives in these tables, outside every
-- hash, so erasing a person (PIPL, ROADMAP 3) deletes rows here and leaves every chain verifiable.
-- Each row written here commits together with the candidate.* record that justifies it
-- (ledger.transact); these tables are never the only trace of a decision.

CREATE TABLE candidates (
    id          text        PRIMARY KEY CHECK (id ~ '^cd_[0-9a-f]{32}$'),
    corp_id     text        NOT NULL CHECK (length(corp_id) BETWEEN 1 AND 64),
    -- How the candidate was first seen: contact (a recruiter's contact way or 1:1 add), kf (微信客服),
    -- archive (a chat archive message), recruiter (entered by hand).
    created_via text        NOT NULL CHECK (created_via IN ('contact', 'kf', 'archive', 'recruiter')),
    -- The member responsible, lower-cased (DECISIONS 8); null until one is known.
    recruiter   text        CHECK (recruiter IS NULL OR (recruiter = lower(recruiter) AND length(recruiter) BETWEEN 1 AND 256)),
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- Set when this row turned out to be the same person as an earlier candidate (a re-applicant
    -- matched by phone or ID number): it then points at the surviving row, which never points on
    -- (merges are flattened), so one hop always finds the person. Rows are never deleted by a merge:
    -- the records on this candidate's stream stay its history.
    merged_into text        REFERENCES candidates (id),
    UNIQUE (corp_id, id),
    CHECK (merged_into IS NULL OR merged_into <> id)
);
CREATE INDEX candidates_merged_into ON candidates (merged_into) WHERE merged_into IS NOT NULL;

-- WeCom's external_userid of a candidate, kept exactly (case-sensitive, DECISIONS 8). One person may
-- have several (a second WeChat account entered by a recruiter, a merge); one external_userid is
-- always one candidate row. The primary key is what makes concurrent first contacts agree.
CREATE TABLE candidate_external_ids (
    corp_id         text        NOT NULL,
    external_userid text        NOT NULL CHECK (length(external_userid) BETWEEN 1 AND 128),
    candidate_id    text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (corp_id, external_userid),
    FOREIGN KEY (corp_id, candidate_id) REFERENCES candidates (corp_id, id)
);
CREATE INDEX candidate_external_ids_candidate ON candidate_external_ids (candidate_id);

-- Open positions, a small table here; the offers issue reads the salary band. The id is short
-- (at most 26 characters) because a contact way's State, at most 30 characters in WeCom, names it
-- as `pos:<id>` (src/candidates/positions.ts).
CREATE TABLE positions (
    corp_id     text        NOT NULL CHECK (length(corp_id) BETWEEN 1 AND 64),
    id          text        NOT NULL CHECK (id ~ '^[A-Za-z0-9_-]{1,26}$'),
    title       text        NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    department  text        CHECK (department IS NULL OR length(department) BETWEEN 1 AND 200),
    -- Monthly base salary band in yuan (whole yuan: integers only, like the evidence, DECISIONS 6).
    salary_min  integer     CHECK (salary_min IS NULL OR salary_min >= 0),
    salary_max  integer     CHECK (salary_max IS NULL OR salary_max >= 0),
    level       text        CHECK (level IS NULL OR length(level) BETWEEN 1 AND 64),
    created_at  timestamptz NOT NULL DEFAULT now(),
    closed_at   timestamptz,
    PRIMARY KEY (corp_id, id),
    CHECK (salary_min IS NULL OR salary_max IS NULL OR salary_min <= salary_max)
);

-- Which positions a candidate came for (contact way State, KF scene_param, or a recruiter), each
-- written with its candidate.position record.
CREATE TABLE candidate_positions (
    corp_id      text        NOT NULL,
    candidate_id text        NOT NULL,
    position_id  text        NOT NULL,
    via          text        NOT NULL CHECK (via IN ('contact_way', 'kf', 'recruiter')),
    linked_at    timestamptz NOT NULL,
    PRIMARY KEY (candidate_id, position_id),
    FOREIGN KEY (corp_id, candidate_id) REFERENCES candidates (corp_id, id),
    FOREIGN KEY (corp_id, position_id) REFERENCES positions (corp_id, id)
);

-- A phone number or ID number a recruiter entered to recognise a re-applicant, kept only as an
-- HMAC-SHA256 under CANDIDATE_IDENTIFIER_HMAC_KEY (DECISIONS 10): a plain hash of an 18-digit ID
-- number is brute-forced in minutes. One identifier is one person: the primary key refuses a second
-- row, so the same identifier entered for another candidate merges the two instead. PIPL arts.
-- 28-29: an ID number is sensitive personal information, so who entered it and the consent basis
-- are kept with it; nothing is stored without a basis.
CREATE TABLE candidate_identifiers (
    corp_id       text        NOT NULL,
    kind          text        NOT NULL CHECK (kind IN ('phone', 'id_number')),
    digest        text        NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
    candidate_id  text        NOT NULL,
    -- The member who entered it, lower-cased.
    entered_by    text        NOT NULL CHECK (entered_by = lower(entered_by) AND length(entered_by) BETWEEN 1 AND 256),
    consent_basis text        NOT NULL CHECK (consent_basis IN ('separate_consent', 'contract_necessity')),
    entered_at    timestamptz NOT NULL,
    PRIMARY KEY (corp_id, kind, digest),
    FOREIGN KEY (corp_id, candidate_id) REFERENCES candidates (corp_id, id)
);
CREATE INDEX candidate_identifiers_candidate ON candidate_identifiers (candidate_id);

-- What externalcontact/get last said about an external_userid (name, avatar, follow users, tags):
-- the latest answer, for display; every answer is also a candidate.profile record.
CREATE TABLE candidate_profiles (
    corp_id         text        NOT NULL,
    external_userid text        NOT NULL,
    candidate_id    text        NOT NULL,
    name            text        NOT NULL,
    avatar          text,
    -- 1 WeChat user, 2 WeCom user (WeCom's `type`).
    contact_type    integer,
    gender          integer,
    corp_name       text,
    follow_user     jsonb       NOT NULL DEFAULT '[]',
    fetched_at      timestamptz NOT NULL,
    PRIMARY KEY (corp_id, external_userid),
    FOREIGN KEY (corp_id, external_userid) REFERENCES candidate_external_ids (corp_id, external_userid),
    FOREIGN KEY (corp_id, candidate_id) REFERENCES candidates (corp_id, id)
);

-- Records stored elsewhere (a callback, a KF message) that concern a candidate, each attached by a
-- candidate.link record on the candidate's stream: an index for the timeline, and what makes a link
-- idempotent (one per linked record and candidate).
CREATE TABLE candidate_links (
    corp_id       text    NOT NULL,
    candidate_id  text    NOT NULL,
    linked_seq    bigint  NOT NULL,
    linked_stream text    NOT NULL,
    linked_hash   text    NOT NULL CHECK (linked_hash ~ '^[0-9a-f]{64}$'),
    PRIMARY KEY (candidate_id, linked_seq),
    FOREIGN KEY (corp_id, candidate_id) REFERENCES candidates (corp_id, id)
);

REVOKE ALL ON candidates, candidate_external_ids, positions, candidate_positions, candidate_identifiers,
    candidate_profiles, candidate_links FROM PUBLIC;
-- Recruiter assignment and merges update a candidate; nothing else is ever updated or deleted by the
-- app. Erasure (DELETE) comes with the PIPL issue, under its own role and audit.
GRANT SELECT, INSERT, UPDATE (recruiter, merged_into) ON candidates TO hireledger_app;
GRANT SELECT, INSERT ON candidate_external_ids, candidate_positions, candidate_identifiers, candidate_links TO hireledger_app;
GRANT SELECT, INSERT, UPDATE ON positions, candidate_profiles TO hireledger_app;
