"""SQLite results store (WAL): every model call is committed as it completes.

One row per call with a UNIQUE key on (run, model, suite, item, condition,
variant) is what makes resume exact: a restarted run asks which keys exist
and skips them, so a crash loses at most the call in flight.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from engine.errors import SafeVetError
from engine.judges.types import JudgeAgreement
from engine.runs.plan import RunConfig
from engine.runs.records import FINISHED_STATUSES, RunEnvironment, RunRecord, RunStatus, \
    RunSummary
from engine.store.migrations import MIGRATIONS

SCHEMA_VERSION = len(MIGRATIONS)
GENESIS_HASH = "0" * 64


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class CallRecord:
    """One model call as stored; the unit a resume counts and a report recomputes from."""

    run_id: str
    model: str
    suite_id: str
    suite_version: str
    item_id: str
    condition: str
    kind: str
    prompt_text: str
    variant: str = ""
    context: dict | None = None
    output_text: str | None = None
    option_probs: dict[str, float] | None = None
    chosen: str | None = None
    confidence: float | None = None
    latency_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error: str | None = None
    id: int | None = None

    @property
    def prompt_hash(self) -> str:
        return hashlib.sha256(self.prompt_text.encode("utf-8")).hexdigest()

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.model, self.suite_id, self.item_id, self.condition, self.variant)


@dataclass(frozen=True)
class StoredJudgment:
    """One judge's verdict on one stored call (a reviewer's override is one too)."""

    id: int
    call_id: int
    judge: str
    label: str | None
    score: float | None
    cares_class: str | None
    reasons: str | None
    created_at: str


@dataclass(frozen=True)
class CallCounts:
    """How many calls a run has stored, how many are error rows, and the first error."""

    total: int
    errors: int
    first_error: str | None


class ResultsStore:
    """Thread-safe wrapper over one SQLite file; GUI workers share one instance."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30,
                                     isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    # -- schema -------------------------------------------------------------
    def _migrate(self) -> None:
        with self._lock:
            current = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if current > SCHEMA_VERSION:
                raise SafeVetError(
                    f"{self.path}: results store has schema version {current}, this SafeVet "
                    f"knows up to {SCHEMA_VERSION}; upgrade SafeVet to open it")
            for version in range(current, SCHEMA_VERSION):
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    for stmt in _split_sql(MIGRATIONS[version]):
                        self._conn.execute(stmt)
                    self._conn.execute(f"PRAGMA user_version={version + 1}")
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise

    @property
    def schema_version(self) -> int:
        return self._conn.execute("PRAGMA user_version").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # The store's SQL stays inside engine/store: other modules call named methods here or
    # the repository modules beside this one (engine/store/reviews.py).
    def _query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def _execute(self, sql: str, params: tuple | dict = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._conn.execute(sql, params)

    def page_limit(self, pages: int | None = None) -> tuple[int, int]:
        """(pages in use, the most this connection may grow to); with `pages`, set that
        limit first: SQLite then answers "database or disk is full" exactly as on a full
        disk, which is how the disk-full path is exercised without filling one."""
        if pages is not None:
            self._execute(f"PRAGMA max_page_count={int(pages)}")
        used = self._query("PRAGMA page_count")[0][0]
        return used, self._query("PRAGMA max_page_count")[0][0]

    # -- runs ---------------------------------------------------------------
    def create_run(self, run_id: str, *, profile: str, operator: str,
                   config: RunConfig | Mapping[str, Any],
                   environment: RunEnvironment | Mapping[str, Any]) -> None:
        """Records are validated here, at the store's door, whatever form they arrive in."""
        config = RunConfig.model_validate(config)
        environment = RunEnvironment.model_validate(environment)
        self._execute(
            "INSERT INTO runs (id, created_at, status, profile, operator, config_json, "
            "environment_json) VALUES (?, ?, 'planned', ?, ?, ?, ?)",
            (run_id, utc_now(), profile, operator, config.model_dump_json(),
             environment.model_dump_json()))

    def set_run_status(self, run_id: str, status: RunStatus,
                       summary: RunSummary | Mapping[str, Any] | None = None) -> None:
        finished = utc_now() if status in FINISHED_STATUSES else None
        summary = RunSummary.model_validate(summary) if summary is not None else None
        if summary is None:
            self._execute("UPDATE runs SET status=?, finished_at=? WHERE id=?",
                          (status, finished, run_id))
        else:
            self._execute("UPDATE runs SET status=?, finished_at=?, summary_json=? WHERE id=?",
                          (status, finished, summary.model_dump_json(), run_id))

    def update_run(self, run_id: str, *, environment: RunEnvironment | None = None,
                   summary: RunSummary | None = None) -> None:
        """Fill in what is only known while running (providers, throughput)."""
        if environment is not None:
            self._execute("UPDATE runs SET environment_json=? WHERE id=?",
                          (environment.model_dump_json(), run_id))
        if summary is not None:
            self._execute("UPDATE runs SET summary_json=? WHERE id=?",
                          (summary.model_dump_json(), run_id))

    def get_run(self, run_id: str) -> RunRecord | None:
        rows = self._query("SELECT * FROM runs WHERE id=?", (run_id,))
        return _row_to_run(rows[0]) if rows else None

    def list_runs(self) -> list[RunRecord]:
        return [_row_to_run(r) for r in self._query(
            "SELECT * FROM runs ORDER BY created_at DESC, id DESC")]

    def models_with_calls(self, run_id: str) -> list[str]:
        return [r["model"] for r in self._query(
            "SELECT DISTINCT model FROM calls WHERE run_id=? ORDER BY model", (run_id,))]

    def suite_versions_scored(self, run_id: str, model: str) -> list[tuple[str, str]]:
        """(suite id, suite version) of every suite the model has calls for in the run."""
        return [(r["suite_id"], r["suite_version"]) for r in self._query(
            "SELECT DISTINCT suite_id, suite_version FROM calls WHERE run_id=? AND model=?",
            (run_id, model))]

    def items_scored(self, run_id: str, model: str) -> dict[str, int]:
        """suite id -> distinct items the model has calls for in the run."""
        return {r["suite_id"]: r["n"] for r in self._query(
            "SELECT suite_id, COUNT(DISTINCT item_id) AS n FROM calls WHERE run_id=? AND "
            "model=? GROUP BY suite_id", (run_id, model))}

    # -- calls --------------------------------------------------------------
    def record_call(self, call: CallRecord) -> int:
        """Insert one call and commit it at once (autocommit): durable before we go on."""
        with self._lock:
            cur = self._conn.execute(
                "INSERT INTO calls (run_id, model, suite_id, suite_version, item_id, condition, "
                "variant, kind, prompt_hash, prompt_text, context_json, output_text, "
                "option_probs_json, chosen, confidence, latency_ms, prompt_tokens, "
                "completion_tokens, error, created_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (call.run_id, call.model, call.suite_id, call.suite_version, call.item_id,
                 call.condition, call.variant, call.kind, call.prompt_hash, call.prompt_text,
                 json.dumps(call.context or {}), call.output_text,
                 json.dumps(call.option_probs) if call.option_probs is not None else None,
                 call.chosen, call.confidence, call.latency_ms, call.prompt_tokens,
                 call.completion_tokens, call.error, utc_now()))
            call.id = cur.lastrowid
            return call.id  # type: ignore[return-value]

    def call_counts(self, run_id: str) -> "CallCounts":
        row = self._query(
            "SELECT COUNT(*) AS total, COUNT(error) AS errors, "
            "(SELECT error FROM calls WHERE run_id=? AND error IS NOT NULL ORDER BY id LIMIT 1) "
            "AS first_error FROM calls WHERE run_id=?", (run_id, run_id))[0]
        return CallCounts(total=row["total"], errors=row["errors"],
                          first_error=row["first_error"])

    def done_keys(self, run_id: str) -> set[tuple[str, str, str, str, str]]:
        rows = self._query("SELECT model, suite_id, item_id, condition, variant FROM calls "
                          "WHERE run_id=?", (run_id,))
        return {tuple(r) for r in rows}  # type: ignore[misc]

    def calls(self, run_id: str, model: str | None = None) -> list[CallRecord]:
        sql, params = "SELECT * FROM calls WHERE run_id=?", [run_id]
        if model is not None:
            sql += " AND model=?"
            params.append(model)
        sql += " ORDER BY id"
        return [_row_to_call(r) for r in self._query(sql, tuple(params))]

    # -- judgments ----------------------------------------------------------
    def record_judgment(self, call_id: int, judge: str, label: str | None, *,
                        score: float | None = None, cares_class: str | None = None,
                        reasons: str = "") -> None:
        self._execute(
            "INSERT INTO judgments (call_id, judge, label, score, cares_class, reasons, "
            "created_at) VALUES (?,?,?,?,?,?,?) ON CONFLICT(call_id, judge) DO UPDATE SET "
            "label=excluded.label, score=excluded.score, cares_class=excluded.cares_class, "
            "reasons=excluded.reasons, created_at=excluded.created_at",
            (call_id, judge, label, score, cares_class, reasons, utc_now()))

    def judgments(self, run_id: str) -> list[StoredJudgment]:
        rows = self._query(
            "SELECT j.* FROM judgments j JOIN calls c ON c.id = j.call_id WHERE c.run_id=? "
            "ORDER BY j.id", (run_id,))
        return [StoredJudgment(**dict(r)) for r in rows]

    def record_judge_validation(self, run_id: str, agreement: JudgeAgreement) -> None:
        self._execute(
            "INSERT OR REPLACE INTO judge_validations VALUES (?,?,?,?,?,?,?)",
            (run_id, agreement.judge, agreement.n, agreement.accuracy, agreement.kappa,
             agreement.model_dump_json(), utc_now()))

    def judge_validations(self, run_id: str) -> list[JudgeAgreement]:
        """Each judge's agreement as measured for this run (the whole record is kept in
        details_json; the columns beside it let SQL read the headline figures)."""
        rows = self._query("SELECT * FROM judge_validations WHERE run_id=? ORDER BY judge",
                           (run_id,))
        out = []
        for r in rows:
            # Every field of the record, as stored; a record written before a field
            # existed reads it as its default (JudgeAgreement's fields are additive).
            details = json.loads(r["details_json"])
            out.append(JudgeAgreement.model_validate({
                **details, "judge": r["judge"], "n": int(r["n"]),
                "accuracy": float(r["accuracy"]), "kappa": float(r["kappa"])}))
        return out

    # -- audit log ----------------------------------------------------------
    def append_audit(self, actor: str, action: str, payload: dict) -> int:
        """Append a hash-chained entry: each hash covers the previous one."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                last = self._conn.execute(
                    "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
                seq = (last["seq"] + 1) if last else 1
                prev = last["hash"] if last else GENESIS_HASH
                ts = utc_now()
                body = json.dumps(payload, sort_keys=True, ensure_ascii=False)
                digest = audit_entry_hash(seq, ts, actor, action, body, prev)
                self._conn.execute(
                    "INSERT INTO audit_log (seq, ts, actor, action, payload_json, prev_hash, hash)"
                    " VALUES (?,?,?,?,?,?,?)", (seq, ts, actor, action, body, prev, digest))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            return seq

    def audit_entries(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._query("SELECT * FROM audit_log ORDER BY seq")]

    def verify_audit_log(self) -> list[str]:
        """Problems found re-walking the chain; empty means intact."""
        problems = []
        prev = GENESIS_HASH
        for i, e in enumerate(self.audit_entries(), start=1):
            if e["seq"] != i:
                problems.append(f"entry {i}: sequence jumps to {e['seq']} (an entry was removed)")
            if e["prev_hash"] != prev:
                problems.append(f"entry {e['seq']}: does not chain to the entry before it")
            expected = audit_entry_hash(e["seq"], e["ts"], e["actor"], e["action"],
                                        e["payload_json"], e["prev_hash"])
            if expected != e["hash"]:
                problems.append(f"entry {e['seq']}: content does not match its hash "
                                f"(edited after it was written)")
            prev = e["hash"]
        return problems


def audit_entry_hash(seq: int, ts: str, actor: str, action: str, payload_json: str,
                     prev_hash: str) -> str:
    material = json.dumps([seq, ts, actor, action, payload_json, prev_hash], ensure_ascii=False)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def _row_to_run(r: sqlite3.Row) -> RunRecord:
    return RunRecord(
        id=r["id"], created_at=r["created_at"], finished_at=r["finished_at"],
        status=r["status"], profile=r["profile"], operator=r["operator"],
        config=RunConfig.model_validate_json(r["config_json"]),
        environment=RunEnvironment.model_validate_json(r["environment_json"] or "{}"),
        summary=RunSummary.model_validate_json(r["summary_json"]) if r["summary_json"] else None)


def _row_to_call(r: sqlite3.Row) -> CallRecord:
    return CallRecord(
        id=r["id"], run_id=r["run_id"], model=r["model"], suite_id=r["suite_id"],
        suite_version=r["suite_version"], item_id=r["item_id"], condition=r["condition"],
        variant=r["variant"], kind=r["kind"], prompt_text=r["prompt_text"],
        context=json.loads(r["context_json"]) if r["context_json"] else {},
        output_text=r["output_text"],
        option_probs=json.loads(r["option_probs_json"]) if r["option_probs_json"] else None,
        chosen=r["chosen"], confidence=r["confidence"], latency_ms=r["latency_ms"],
        prompt_tokens=r["prompt_tokens"], completion_tokens=r["completion_tokens"],
        error=r["error"])


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements (trigger bodies kept whole) so it runs in one tx."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip():
        statements.append(current.strip())
    return statements
