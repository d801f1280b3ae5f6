-- The members module (src/members): which of the corp's members use HireLedger. The example module
-- of the module contract (ARCHITECTURE.md, "Modules").

-- One row per member per day (Asia/Shanghai) on which they opened the app; written with the
-- member.visit record in one transaction.
CREATE TABLE member_visits (
    corp_id      text        NOT NULL,
    -- Lower-cased (DECISIONS 8).
    userid       text        NOT NULL CHECK (length(userid) BETWEEN 1 AND 256),
    day          date        NOT NULL,
    entered_at   timestamptz NOT NULL,
    -- The enter_agent callback record that made it a visit.
    callback_seq bigint      NOT NULL,
    PRIMARY KEY (corp_id, userid, day)
);

-- What WeCom's directory said about a member when last asked (user/get); written with the
-- member.profile record in one transaction.
CREATE TABLE member_profiles (
    corp_id    text        NOT NULL,
    userid     text        NOT NULL CHECK (length(userid) BETWEEN 1 AND 256),
    name       text        NOT NULL,
    department integer[]   NOT NULL DEFAULT '{}',
    position   text,
    fetched_at timestamptz NOT NULL,
    PRIMARY KEY (corp_id, userid)
);

REVOKE ALL ON member_visits, member_profiles FROM PUBLIC;
GRANT SELECT, INSERT ON member_visits TO hireledger_app;
GRANT SELECT, INSERT, UPDATE ON member_profiles TO hireledger_app;
