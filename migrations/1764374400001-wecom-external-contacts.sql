-- Opaque ids for WeCom external contacts (DECISIONS 4; src/wecom/external-contacts.ts).
--
-- A record's stream, actor and source_ref are hashed and stay in every proof for ever, so records
-- written from now on name an external contact (a candidate) by `xc_<32 hex digits>`, never by its
-- external_userid. The mapping is kept here, outside every hash: deleting a person's row (PIPL
-- erasure) leaves the opaque id pointing at no one while every chain and checkpoint still verifies.
-- Records stored before this migration keep the names they were written with.

CREATE TABLE wecom_external_contacts (
    corp_id         text        NOT NULL CHECK (length(corp_id) BETWEEN 1 AND 64),
    -- Exactly as WeCom sends it (case-sensitive, DECISIONS 8).
    external_userid text        NOT NULL CHECK (length(external_userid) BETWEEN 1 AND 128),
    id              text        NOT NULL UNIQUE CHECK (id ~ '^xc_[0-9a-f]{32}$'),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (corp_id, external_userid)
);
COMMENT ON TABLE wecom_external_contacts IS 'external_userid -> opaque id used in evidence headers; erasable (not hashed).';

REVOKE ALL ON wecom_external_contacts FROM PUBLIC;
-- Erasure (DELETE) comes with the PIPL issue, under its own role and audit.
GRANT SELECT, INSERT ON wecom_external_contacts TO hireledger_app;
