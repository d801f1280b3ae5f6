-- The signals module (src/signals, docs/signals.md): the rules that flag risk in conversation
-- messages, editable by an admin, and the alerts sent to recruiters about the hits.
--
-- Rules are data, not code, so HR can change a lexicon without a deploy. A hit (a `signal.hit`
-- record in the ledger) names the rule and the version it was found with; every version of every
-- rule is kept in signal_rule_versions, so what a hit was judged by can always be read back, even
-- after the rule changed again. The database itself bumps the version and writes the history
-- (triggers below), so an edit made by hand in psql is versioned exactly like one made by the app.
-- The defaults ship in code (src/signals/defaults.ts) and are inserted per corp at version 1 when
-- the module first loads the rules of that corp (the migration cannot know the corp).

CREATE TABLE signal_rules (
    corp_id           text        NOT NULL CHECK (length(corp_id) BETWEEN 1 AND 64),
    id                text        NOT NULL CHECK (id ~ '^[a-z][a-z0-9_.-]{1,63}$'),
    type              text        NOT NULL CHECK (type IN ('hesitation', 'resigned_before_offer', 'over_promise')),
    -- Whose messages the rule reads; fixed by the type (candidates hesitate and resign, recruiters promise).
    role              text        NOT NULL CHECK (role IN ('candidate', 'recruiter')),
    -- Set by the triggers: 1 on insert, +1 on every change of what the rule does.
    version           integer     NOT NULL CHECK (version >= 1),
    -- What the rule catches, in Chinese, for the admin and for the alert.
    description       text        NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    -- The lexicon: phrases matched literally (after folding traditional/simplified, case, width).
    terms             text[]      NOT NULL DEFAULT '{}' CHECK (cardinality(terms) <= 500),
    -- Regular expressions (JavaScript syntax) over the folded text; checked by the app before use.
    patterns          text[]      NOT NULL DEFAULT '{}' CHECK (cardinality(patterns) <= 50),
    -- Guards: a match is not a hit when its clause negates it, asks it, is cautionary advice or a
    -- condition, or says it of somebody else (src/signals/classifier.ts).
    negation_guard    boolean     NOT NULL DEFAULT true,
    question_guard    boolean     NOT NULL DEFAULT true,
    advice_guard      boolean     NOT NULL DEFAULT true,
    third_party_guard boolean     NOT NULL DEFAULT false,
    -- Rules are disabled, never deleted: a hit's rule stays resolvable.
    enabled           boolean     NOT NULL DEFAULT true,
    -- A member userid (lower-cased) or `hireledger` for the shipped defaults.
    updated_by        text        NOT NULL CHECK (length(updated_by) BETWEEN 1 AND 256),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (corp_id, id),
    CHECK ((type = 'over_promise') = (role = 'recruiter')),
    CHECK (cardinality(terms) + cardinality(patterns) > 0)
);
COMMENT ON TABLE signal_rules IS 'Current signal rules per corp; versioned by trigger into signal_rule_versions.';

-- Every version of every rule, as it was: written only by the trigger (the app may only read it).
CREATE TABLE signal_rule_versions (
    corp_id           text        NOT NULL,
    id                text        NOT NULL,
    version           integer     NOT NULL,
    type              text        NOT NULL,
    role              text        NOT NULL,
    description       text        NOT NULL,
    terms             text[]      NOT NULL,
    patterns          text[]      NOT NULL,
    negation_guard    boolean     NOT NULL,
    question_guard    boolean     NOT NULL,
    advice_guard      boolean     NOT NULL,
    third_party_guard boolean     NOT NULL,
    enabled           boolean     NOT NULL,
    updated_by        text        NOT NULL,
    updated_at        timestamptz NOT NULL,
    PRIMARY KEY (corp_id, id, version)
);
COMMENT ON TABLE signal_rule_versions IS 'History of signal_rules: what each (rule, version) named by a signal.hit record was.';

-- Versions are the database's business: an insert starts at 1 (or after the last version kept, if
-- the rule was once deleted by the owner); an update that changes what the rule does gets the next
-- version and the time; one that changes nothing keeps both. A rule's id, corp and type never change
-- (the history is keyed by them): make a new rule instead.
CREATE FUNCTION signal_rules_version() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT coalesce(max(v.version), 0) + 1 INTO NEW.version
          FROM signal_rule_versions v WHERE v.corp_id = NEW.corp_id AND v.id = NEW.id;
        RETURN NEW;
    END IF;
    IF NEW.corp_id IS DISTINCT FROM OLD.corp_id OR NEW.id IS DISTINCT FROM OLD.id OR NEW.type IS DISTINCT FROM OLD.type
       OR NEW.role IS DISTINCT FROM OLD.role THEN
        RAISE EXCEPTION 'a signal rule keeps its corp, id, type and role: disable it and add a new rule'
            USING ERRCODE = 'check_violation';
    END IF;
    IF (NEW.description, NEW.terms, NEW.patterns, NEW.negation_guard, NEW.question_guard, NEW.advice_guard,
        NEW.third_party_guard, NEW.enabled)
       IS NOT DISTINCT FROM
       (OLD.description, OLD.terms, OLD.patterns, OLD.negation_guard, OLD.question_guard, OLD.advice_guard,
        OLD.third_party_guard, OLD.enabled) THEN
        NEW.version := OLD.version;
        NEW.updated_by := OLD.updated_by;
        NEW.updated_at := OLD.updated_at;
    ELSE
        NEW.version := OLD.version + 1;
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END;
$$;

CREATE FUNCTION signal_rules_history() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    INSERT INTO signal_rule_versions (corp_id, id, version, type, role, description, terms, patterns, negation_guard,
                                      question_guard, advice_guard, third_party_guard, enabled, updated_by, updated_at)
    VALUES (NEW.corp_id, NEW.id, NEW.version, NEW.type, NEW.role, NEW.description, NEW.terms, NEW.patterns,
            NEW.negation_guard, NEW.question_guard, NEW.advice_guard, NEW.third_party_guard, NEW.enabled,
            NEW.updated_by, NEW.updated_at)
    ON CONFLICT (corp_id, id, version) DO NOTHING;
    RETURN NULL;
END;
$$;

CREATE TRIGGER signal_rules_version BEFORE INSERT OR UPDATE ON signal_rules
    FOR EACH ROW EXECUTE FUNCTION signal_rules_version();
CREATE TRIGGER signal_rules_history AFTER INSERT OR UPDATE ON signal_rules
    FOR EACH ROW EXECUTE FUNCTION signal_rules_history();

-- The history is append-only for everybody (as the ledger is): a version once named by a hit must
-- read back as it was.
CREATE FUNCTION signal_rule_versions_refuse() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'signal_rule_versions is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER signal_rule_versions_refuse BEFORE UPDATE OR DELETE ON signal_rule_versions
    FOR EACH ROW EXECUTE FUNCTION signal_rule_versions_refuse();
CREATE TRIGGER signal_rule_versions_refuse_truncate BEFORE TRUNCATE ON signal_rule_versions
    FOR EACH STATEMENT EXECUTE FUNCTION signal_rule_versions_refuse();

-- One row per resigned_before_offer or over_promise hit: whether and how its recruiter was told.
-- The evidence is the `signal.alert` record (and the send's own intent and outcome records); this
-- table is the alert consumer's working state and the per-recruiter rate limit's memory.
CREATE TABLE signal_alerts (
    corp_id    text        NOT NULL CHECK (length(corp_id) BETWEEN 1 AND 64),
    -- The signal.hit record.
    hit_seq    bigint      NOT NULL,
    hit_hash   text        NOT NULL CHECK (hit_hash ~ '^[0-9a-f]{64}$'),
    type       text        NOT NULL CHECK (type IN ('resigned_before_offer', 'over_promise')),
    -- Lower-cased member userid (DECISIONS 8); null when no recruiter is known.
    recruiter  text        CHECK (length(recruiter) BETWEEN 1 AND 256),
    -- sending: reserved against the limit, message under way; sent: delivered to WeCom (alone or
    -- in a digest); held: over the recruiter's limit, waits for the next digest; undeliverable:
    -- nobody to tell (recorded, never silent).
    status     text        NOT NULL CHECK (status IN ('sending', 'sent', 'held', 'undeliverable')),
    -- The idempotency key of the message that carries this alert (its own, or a digest's).
    send_key   text,
    -- When the row last changed state (reserved, held, claimed by a digest): the rate limit's clock.
    decided_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz,
    PRIMARY KEY (corp_id, hit_seq),
    CHECK ((status = 'undeliverable') = (recruiter IS NULL)),
    CHECK ((status = 'sent') = (sent_at IS NOT NULL))
);
-- The rate limit counts a recruiter's messages of the last window.
CREATE INDEX signal_alerts_recruiter_recent ON signal_alerts (corp_id, recruiter, decided_at);
-- The digest job looks for held alerts.
CREATE INDEX signal_alerts_held ON signal_alerts (corp_id, recruiter) WHERE status = 'held';

REVOKE ALL ON signal_rules, signal_rule_versions, signal_alerts FROM PUBLIC;
-- An admin edits rules through the app; the history is written by the trigger only.
GRANT SELECT, INSERT, UPDATE ON signal_rules TO hireledger_app;
GRANT SELECT ON signal_rule_versions TO hireledger_app;
GRANT SELECT, INSERT, UPDATE ON signal_alerts TO hireledger_app;
REVOKE ALL ON FUNCTION signal_rules_version(), signal_rules_history(), signal_rule_versions_refuse() FROM PUBLIC;
