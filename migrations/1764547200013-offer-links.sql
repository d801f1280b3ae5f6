-- Offer links (issue 10 item 4, docs/acceptance.md): the signed, expiring, single-use link to the
-- candidate's H5 acceptance page for one sent offer version.
--
-- The token itself is never stored: it is derived from OFFER_LINK_SECRET and the row (HMAC-SHA256
-- over the link id, corp, offer, version, content hash and expiry), so issuing the same link again
-- rebuilds the same URL; only its SHA-256 is kept, to find the row. A link is consumed (used_at) in
-- the same transaction as the offer.accepted or offer.declined record it carried, so it can never
-- answer twice. Every row written here commits with the record that justifies it (offer.link_issued,
-- offer.link_viewed on the candidate's stream).

CREATE TABLE offer_links (
    id              text        PRIMARY KEY CHECK (id ~ '^ol_[0-9a-f]{32}$'),
    corp_id         text        NOT NULL CHECK (length(corp_id) BETWEEN 1 AND 64),
    offer_id        text        NOT NULL,
    version         integer     NOT NULL CHECK (version >= 1),
    -- The version's content hash the link shows and may accept (the approved, sent hash).
    content_sha256  text        NOT NULL CHECK (content_sha256 ~ '^[0-9a-f]{64}$'),
    candidate_id    text        NOT NULL,
    -- The issuer's key (e.g. the offer.sent record's seq): one link per (corp, offer, version, key).
    idempotency_key text        NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    -- SHA-256 (hex) of the token: the token is a bearer secret and is never stored.
    token_sha256    text        NOT NULL UNIQUE CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
    -- Millisecond precision, like everything the evidence covers (DECISIONS 6).
    expires_at      timestamptz NOT NULL CHECK (expires_at = date_trunc('milliseconds', expires_at)),
    created_at      timestamptz NOT NULL CHECK (created_at = date_trunc('milliseconds', created_at)),
    first_viewed_at timestamptz CHECK (first_viewed_at = date_trunc('milliseconds', first_viewed_at)),
    used_at         timestamptz CHECK (used_at = date_trunc('milliseconds', used_at)),
    used_outcome    text        CHECK (used_outcome IN ('accepted', 'declined')),
    UNIQUE (corp_id, offer_id, version, idempotency_key),
    FOREIGN KEY (corp_id, offer_id) REFERENCES offers (corp_id, id),
    FOREIGN KEY (offer_id, version) REFERENCES offer_versions (offer_id, version),
    FOREIGN KEY (corp_id, candidate_id) REFERENCES candidates (corp_id, id),
    CHECK ((used_at IS NULL) = (used_outcome IS NULL)),
    CHECK (expires_at > created_at)
);
CREATE INDEX offer_links_offer ON offer_links (corp_id, offer_id);

REVOKE ALL ON offer_links FROM PUBLIC;
-- The app inserts links and marks them viewed and used; what a link is for never changes, and no
-- link is deleted (the records that mention it stay).
GRANT SELECT, INSERT, UPDATE (first_viewed_at, used_at, used_outcome) ON offer_links TO hireledger_app;
