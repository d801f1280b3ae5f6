-- The approvals module (src/approvals, docs/approvals.md): who approves an offer version, and the
-- WeCom approval (oa/applyevent) each version was submitted as.
--
-- Rules and role assignments are editable by an admin (rows here, no deploy). Rows of corp_id '*'
-- are the shipped defaults; a corp's own row of the same id (rule) or (department, role)
-- (assignment) replaces the default for that corp. The route chosen for a version, and the id,
-- version and definition of every rule that chose it, are an approval.routed record on the
-- candidate's stream: editing a rule later never changes what was recorded.

CREATE TABLE approval_rules (
    corp_id    text        NOT NULL CHECK (corp_id = '*' OR corp_id ~ '^[A-Za-z0-9_-]{1,64}$'),
    id         text        NOT NULL CHECK (id ~ '^[a-z0-9_]{1,64}$'),
    -- Raised by one on every edit: the route record names (id, version).
    version    integer     NOT NULL CHECK (version >= 1),
    -- Rules apply in this order; each adds its roles after those already in the route.
    priority   integer     NOT NULL,
    enabled    boolean     NOT NULL DEFAULT true,
    -- The rule applies when ANY condition holds: {"always": true}, {"above_band_pct_gt": n}
    -- (base salary more than n% above the position's band maximum; 0 = any amount above),
    -- {"level_at_least": "P8"}. Checked by src/approvals/routing.ts (parseConditions).
    when_any   jsonb       NOT NULL CHECK (jsonb_typeof(when_any) = 'array' AND jsonb_array_length(when_any) >= 1),
    -- The roles it adds, in order: hiring_manager, hrbp, department_head, hr_director.
    add_roles  text[]      NOT NULL CHECK (cardinality(add_roles) >= 1
                                   AND add_roles <@ ARRAY['hiring_manager', 'hrbp', 'department_head', 'hr_director']),
    note       text        NOT NULL DEFAULT '',
    updated_by text        NOT NULL CHECK (updated_by = lower(updated_by) AND length(updated_by) BETWEEN 1 AND 256),
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (corp_id, id)
);

-- Who holds each role, per department (the offer's department text, e.g. 研发部; '*' = any
-- department without its own row). userids are WeCom member ids, lower-cased (DECISIONS 8).
CREATE TABLE approval_role_assignments (
    corp_id    text        NOT NULL CHECK (corp_id = '*' OR corp_id ~ '^[A-Za-z0-9_-]{1,64}$'),
    department text        NOT NULL CHECK (length(department) BETWEEN 1 AND 128),
    role       text        NOT NULL CHECK (role IN ('hiring_manager', 'hrbp', 'department_head', 'hr_director')),
    userids    text[]      NOT NULL CHECK (cardinality(userids) BETWEEN 1 AND 20
                                   AND array_to_string(userids, ',') = lower(array_to_string(userids, ','))),
    updated_by text        NOT NULL CHECK (updated_by = lower(updated_by) AND length(updated_by) BETWEEN 1 AND 256),
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (corp_id, department, role)
);

-- Per corp: submit with WeCom's own conditional flow of the template (use_template_approver: 1)
-- instead of the route's node_list. Absent row: the route (node_list).
CREATE TABLE approval_settings (
    corp_id               text        PRIMARY KEY CHECK (corp_id ~ '^[A-Za-z0-9_-]{1,64}$'),
    use_template_approver boolean     NOT NULL,
    updated_by            text        NOT NULL CHECK (updated_by = lower(updated_by)),
    updated_at            timestamptz NOT NULL
);

-- One row per offer version handed to WeCom. WeCom's applyevent has no idempotency key, so the
-- intent is written (and committed) BEFORE the request; a row still 'intent' means "maybe sent":
-- the submitter looks the approval up (getapprovalinfo + getapprovaldetail, matching the content
-- hash in the form) before it ever submits again. Only the current state; the history is the
-- approval.* records on the candidate's stream.
CREATE TABLE approval_submissions (
    corp_id        text        NOT NULL,
    offer_id       text        NOT NULL,
    version        integer     NOT NULL,
    -- The step (offers.steps) of the offer.approval_requested record this submission answers: a
    -- version rejected and submitted again is a second submission, a second WeCom approval.
    request_step   integer     NOT NULL CHECK (request_step >= 1),
    content_sha256 text        NOT NULL CHECK (content_sha256 ~ '^[0-9a-f]{64}$'),
    creator_userid text        NOT NULL CHECK (creator_userid = lower(creator_userid)),
    template_id    text        NOT NULL,
    state          text        NOT NULL CHECK (state IN ('intent', 'submitted', 'failed')),
    attempts       integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- WeCom's SpNo, case-sensitive (DECISIONS 8).
    sp_no          text        UNIQUE CHECK (sp_no IS NULL OR length(sp_no) BETWEEN 1 AND 64),
    -- When the first attempt started: the look-up window begins a little before it.
    intent_at      timestamptz NOT NULL,
    submitted_at   timestamptz,
    -- When reconciliation last read the approval.
    checked_at     timestamptz,
    error          text,
    PRIMARY KEY (offer_id, request_step),
    FOREIGN KEY (offer_id, version) REFERENCES offer_versions (offer_id, version),
    CHECK ((state = 'submitted') = (sp_no IS NOT NULL))
);
CREATE INDEX approval_submissions_open ON approval_submissions (corp_id, state, checked_at);

-- Shipped defaults (issue 10): hiring manager → HRBP; add the department head above the band; add
-- the HR director more than 20% above the band or at level P8 and above.
INSERT INTO approval_rules (corp_id, id, version, priority, when_any, add_roles, note, updated_by, updated_at) VALUES
    ('*', 'base', 1, 10, '[{"always": true}]', ARRAY['hiring_manager', 'hrbp'], '用人经理 → HRBP', 'hireledger', '2026-12-01T00:00:00Z'),
    ('*', 'above_band', 1, 20, '[{"above_band_pct_gt": 0}]', ARRAY['department_head'], '月薪高于岗位薪资带上限：加部门负责人', 'hireledger', '2026-12-01T00:00:00Z'),
    ('*', 'far_above_band_or_senior', 1, 30, '[{"above_band_pct_gt": 20}, {"level_at_least": "P8"}]', ARRAY['hr_director'],
        '高于薪资带上限20%以上或职级≥P8：加HR总监', 'hireledger', '2026-12-01T00:00:00Z');

-- Default role holders fit the sandbox's seed (sandbox/seed.ts), so the sandbox and the tests route
-- without set-up. A real corp MUST set its own rows (docs/approvals.md): a default names members by
-- userid, and a member of that name in another corp would be asked to approve. They never make anyone
-- an HRBP for rescinds: only a corp's own rows do (hrbpsFromAssignments).
INSERT INTO approval_role_assignments (corp_id, department, role, userids, updated_by, updated_at) VALUES
    ('*', '*', 'hiring_manager', ARRAY['liqiang'], 'hireledger', '2026-12-01T00:00:00Z'),
    ('*', '*', 'hrbp', ARRAY['wangfang'], 'hireledger', '2026-12-01T00:00:00Z'),
    ('*', '*', 'department_head', ARRAY['chenjing'], 'hireledger', '2026-12-01T00:00:00Z'),
    ('*', '*', 'hr_director', ARRAY['liuyang'], 'hireledger', '2026-12-01T00:00:00Z');

REVOKE ALL ON approval_rules, approval_role_assignments, approval_settings, approval_submissions FROM PUBLIC;
-- Admin edits go through the app (src/approvals/routing.ts saveRule / saveRoleAssignment).
GRANT SELECT, INSERT, UPDATE ON approval_rules, approval_role_assignments, approval_settings TO hireledger_app;
-- A submission is never deleted; its identity (offer, version, hash) never changes.
GRANT SELECT, INSERT, UPDATE (state, attempts, sp_no, submitted_at, checked_at, error) ON approval_submissions TO hireledger_app;
