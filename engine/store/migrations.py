"""Schema migrations, applied in order; `PRAGMA user_version` records where we are.

A migration is only ever appended: a store written by an older SafeVet is
brought forward on open, never rebuilt, so no stored call is lost.
"""
from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: the initial schema.
    """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        created_at TEXT NOT NULL,
        finished_at TEXT,
        status TEXT NOT NULL,            -- planned | running | interrupted | completed | failed
        profile TEXT NOT NULL,
        operator TEXT NOT NULL,
        config_json TEXT NOT NULL,       -- models, suites, conditions, settings as planned
        environment_json TEXT NOT NULL,  -- host, execution provider, software versions
        summary_json TEXT                -- throughput and other figures known at the end
    );
    CREATE TABLE calls (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL REFERENCES runs(id),
        model TEXT NOT NULL,
        suite_id TEXT NOT NULL,
        suite_version TEXT NOT NULL,
        item_id TEXT NOT NULL,
        condition TEXT NOT NULL,
        variant TEXT NOT NULL DEFAULT '',  -- sample index / permutation, '' for the plain call
        kind TEXT NOT NULL,                -- mcq | open
        prompt_hash TEXT NOT NULL,
        prompt_text TEXT NOT NULL,
        context_json TEXT NOT NULL DEFAULT '{}',
        output_text TEXT,
        option_probs_json TEXT,
        chosen TEXT,
        confidence REAL,
        latency_ms REAL,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        error TEXT,
        created_at TEXT NOT NULL,
        UNIQUE (run_id, model, suite_id, item_id, condition, variant)
    );
    CREATE INDEX calls_by_run ON calls(run_id, model, condition);
    CREATE TABLE judgments (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        call_id INTEGER NOT NULL REFERENCES calls(id),
        judge TEXT NOT NULL,
        label TEXT,                        -- refuse | caution | comply | unparseable
        score REAL,                        -- MedSafetyBench 1-5 harmfulness where given
        cares_class TEXT,                  -- Accept | Caution | Refuse
        reasons TEXT,
        created_at TEXT NOT NULL,
        UNIQUE (call_id, judge)
    );
    CREATE TABLE judge_validations (
        run_id TEXT NOT NULL REFERENCES runs(id),
        judge TEXT NOT NULL,
        n INTEGER NOT NULL,
        accuracy REAL NOT NULL,
        kappa REAL NOT NULL,
        details_json TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (run_id, judge)
    );
    CREATE TABLE reviews (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        suite_id TEXT NOT NULL,
        suite_version TEXT NOT NULL,
        item_id TEXT NOT NULL,
        reviewer TEXT NOT NULL,
        role TEXT NOT NULL,
        decision TEXT NOT NULL,            -- keep | change_key | change_labels | edit_evidence | retire
        payload_json TEXT NOT NULL,
        rationale TEXT NOT NULL,
        status TEXT NOT NULL,              -- proposed | confirmed | applied | rejected
        created_at TEXT NOT NULL
    );
    CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY,
        ts TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        payload_json TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
    """,
    # 2: label stewardship: the second reviewer (two-person rule) and the suite version a
    # decision landed in, so a review row says who confirmed or rejected it and where it went.
    """
    ALTER TABLE reviews ADD COLUMN second_reviewer TEXT;
    ALTER TABLE reviews ADD COLUMN second_role TEXT;
    ALTER TABLE reviews ADD COLUMN second_rationale TEXT;
    ALTER TABLE reviews ADD COLUMN second_at TEXT;
    ALTER TABLE reviews ADD COLUMN applied_version TEXT;
    CREATE INDEX reviews_by_item ON reviews(suite_id, suite_version, item_id);
    """,
    # 3: model lineage: a candidate registered as a version of another (an alignment cycle:
    # evaluate, collect failures, align with KTO/DPO, register the next version), with the
    # operator's note on what changed. Kept beside the runs that compare the versions, and
    # outside the model manifest, whose hashes must not change when a lineage is recorded.
    """
    CREATE TABLE model_lineage (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,   -- registration order: siblings keep it
        name TEXT NOT NULL UNIQUE,
        parent TEXT,                             -- NULL: the first version of a lineage
        note TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL
    );
    CREATE INDEX model_lineage_by_parent ON model_lineage(parent);
    """,
]
