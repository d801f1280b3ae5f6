-- Member roles in HireLedger itself (issue 11): who may export a candidate's evidence. WeCom's own
-- directory knows departments, not "legal"; the corp grants the role here (npm run members:role,
-- docs/evidence-format.md "Export bundles"), and every grant and revocation is a member.role_*
-- record on the member's stream, written in the same transaction as the row. A revoked role is a
-- new row state (revoked_at), never a deleted row: who held it when stays answerable.
CREATE TABLE member_roles (
    corp_id    text        NOT NULL CHECK (corp_id ~ '^[A-Za-z0-9_-]{1,64}$'),
    userid     text        NOT NULL CHECK (userid = lower(userid) AND length(userid) BETWEEN 1 AND 64),
    role       text        NOT NULL CHECK (role IN ('legal')),
    granted_by text        NOT NULL CHECK (granted_by = lower(granted_by) AND length(granted_by) BETWEEN 1 AND 64),
    granted_at timestamptz NOT NULL,
    revoked_by text        CHECK (revoked_by = lower(revoked_by) AND length(revoked_by) BETWEEN 1 AND 64),
    revoked_at timestamptz,
    CHECK ((revoked_by IS NULL) = (revoked_at IS NULL)),
    PRIMARY KEY (corp_id, userid, role, granted_at)
);
-- At most one live grant of a role to a member.
CREATE UNIQUE INDEX member_roles_live ON member_roles (corp_id, userid, role) WHERE revoked_at IS NULL;

REVOKE ALL ON member_roles FROM PUBLIC;
GRANT SELECT, INSERT ON member_roles TO hireledger_app;
GRANT UPDATE (revoked_by, revoked_at) ON member_roles TO hireledger_app;
