"""Tampering with the review record — the audit chain or the reviews table — is detected."""
from __future__ import annotations

import json
import sqlite3

import pytest

from engine.cli.main import main
from engine.errors import IntegrityError
from engine.stewardship import apply_decisions, confirm, decide, verify_log
from engine.store.db import audit_entry_hash
from tests.test_stewardship_data import build


@pytest.fixture
def reviewed(workspace):
    """A store with a proposed-and-confirmed key change and a retire decision (3 entries)."""
    store, suite = build(workspace)
    d = decide(store, suite, "q2", "Dr Ada", "radiologist", "change_key", {"answer": "C"},
               "Guideline supports C")
    confirm(store, d.id, "Dr Ben", "radiologist", "Agreed")
    decide(store, suite, "q5", "Dr Ada", "radiologist", "retire", {}, "Ambiguous stem")
    assert verify_log(store) == []
    yield store, suite
    store.close()


def _attacker(workspace) -> sqlite3.Connection:
    """A raw connection as an attacker with file access would use: triggers dropped."""
    conn = sqlite3.connect(str(workspace.db_path), isolation_level=None)
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("DROP TRIGGER audit_log_no_delete")
    return conn


def test_the_store_itself_refuses_audit_edits(reviewed, workspace):
    conn = sqlite3.connect(str(workspace.db_path), isolation_level=None)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE audit_log SET actor='Dr Eve' WHERE seq=1")
    conn.close()


def test_edited_audit_payload_is_detected_and_named(reviewed, workspace, capsys):
    store, suite = reviewed
    conn = _attacker(workspace)
    payload = json.loads(conn.execute("SELECT payload_json FROM audit_log WHERE seq=2")
                         .fetchone()[0])
    payload["rationale"] = "rubber-stamped"
    conn.execute("UPDATE audit_log SET payload_json=? WHERE seq=2",
                 (json.dumps(payload, sort_keys=True),))
    conn.close()
    problems = verify_log(store)
    assert any(p.startswith("entry 2: content does not match its hash") for p in problems)
    # The CLI exits non-zero and names the broken entry.
    rc = main(["--home", str(workspace.home), "review", "verify-log"])
    assert rc != 0
    assert "entry 2: content does not match its hash" in capsys.readouterr().err
    with pytest.raises(IntegrityError, match="does not verify"):
        apply_decisions(workspace, store, suite, "it-admin")


def test_rehashed_entry_breaks_the_chain_after_it(reviewed, workspace):
    store, _ = reviewed
    conn = _attacker(workspace)
    seq, ts, actor, action, body, prev = conn.execute(
        "SELECT seq, ts, actor, action, payload_json, prev_hash FROM audit_log WHERE seq=1"
    ).fetchone()
    forged = body.replace('"answer": "C"', '"answer": "A"')
    conn.execute("UPDATE audit_log SET payload_json=?, hash=? WHERE seq=1",
                 (forged, audit_entry_hash(seq, ts, actor, action, forged, prev)))
    conn.close()
    assert any(p.startswith("entry 2: does not chain") for p in verify_log(store))


def test_deleted_last_entry_is_detected(reviewed, workspace):
    store, _ = reviewed
    conn = _attacker(workspace)
    # A truncated tail still chains; the reviews table row it recorded gives it away.
    conn.execute("DELETE FROM audit_log WHERE seq=3")
    conn.close()
    problems = verify_log(store)
    assert any("review #2 (item q5): no audit entry records it" in p for p in problems)


def test_deleted_confirmation_is_detected(reviewed, workspace):
    store, _ = reviewed
    conn = _attacker(workspace)
    conn.execute("DELETE FROM audit_log WHERE seq=2")
    conn.close()
    problems = verify_log(store)
    assert any("sequence jumps to 3" in p for p in problems)
    assert any(p.startswith("review #1 (item q2): status, second_reviewer") for p in problems)


def test_edited_reviews_table_is_detected(reviewed, workspace, capsys):
    store, suite = reviewed
    conn = sqlite3.connect(str(workspace.db_path), isolation_level=None)
    conn.execute("""UPDATE reviews SET payload_json='{"answer": "D"}' WHERE id=1""")
    conn.close()
    problems = verify_log(store)
    assert any(p.startswith("review #1 (item q2): payload differ") for p in problems)
    assert main(["--home", str(workspace.home), "review", "verify-log"]) != 0
    assert "review #1" in capsys.readouterr().err
    with pytest.raises(IntegrityError):
        apply_decisions(workspace, store, suite, "it-admin")


def test_self_confirmation_written_behind_the_engine_is_detected(workspace):
    store, suite = build(workspace)
    d = decide(store, suite, "q2", "Dr Ada", "radiologist", "change_key", {"answer": "C"}, "x")
    with sqlite3.connect(store.path) as conn:  # written behind the engine
        conn.execute("UPDATE reviews SET status='confirmed', second_reviewer='Dr Ada', "
                     "second_role='radiologist', second_rationale='me' WHERE id=?", (d.id,))
    store.append_audit("Dr Ada", "review.confirm", {
        "review_id": d.id, "role": "radiologist", "rationale": "me"})
    assert any("breaks the two-person rule" in p for p in verify_log(store))
    store.close()


def test_intact_log_verifies_from_the_cli(reviewed, workspace, capsys):
    assert main(["--home", str(workspace.home), "review", "verify-log"]) == 0
    assert "audit log intact: 3 entries" in capsys.readouterr().out
