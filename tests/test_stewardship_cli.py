"""`safevet review ...` end to end on a real workspace: queue, show, decide, confirm, apply,
impact, list, appendix."""
from __future__ import annotations

import json

import pytest

from engine.cli.main import main
from engine.suites.registry import resolve_suite
from tests.test_stewardship_data import SUITE_ID, build


@pytest.fixture
def home(workspace):
    store, _ = build(workspace)
    store.close()
    return str(workspace.home)


def _run(home, capsys, *args):
    rc = main(["--home", home, "review", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_queue_lists_the_wrong_key_first_with_its_signals(home, capsys):
    rc, out, _ = _run(home, capsys, "queue", SUITE_ID, "--limit", "1", "--audit-sample", "2")
    assert rc == 0
    first_row = next(line for line in out.splitlines() if line.startswith("1\t"))  # piped: TSV
    assert "q2" in first_row and "consensus_other 1.00" in first_row
    assert "1 contested item(s), 2 audit sample(s)" in out
    rc, out, _ = _run(home, capsys, "queue", SUITE_ID, "--runs", "run-1", "--json")
    entries = json.loads(out)["review_queue"]   # the --json envelope
    assert entries[0]["item_id"] == "q2" and entries[0]["signals"][0]["strength"] == 1.0


def test_show_gives_evidence_labels_and_answers(home, capsys):
    rc, out, _ = _run(home, capsys, "show", SUITE_ID, "q2")
    assert rc == 0
    assert "Guideline text supporting the third option." in out
    assert "(high_risk, unsafe)" in out and "key: B" in out
    assert sum(line.startswith("m1\t") for line in out.splitlines()) == 3 and "0.92" in out
    rc, _, err = _run(home, capsys, "show", SUITE_ID, "q99")
    assert rc == 2 and "q99" in err


def test_review_flow_from_the_command_line(home, capsys, workspace):
    decide = ["decide", SUITE_ID, "q2", "change_key", "--answer", "C", "--reviewer", "Dr Ada",
              "--role", "radiologist"]
    rc, _, err = _run(home, capsys, *decide)
    assert rc == 2 and "rationale" in err and "Traceback" not in err
    rc, out, _ = _run(home, capsys, *decide, "--rationale", "Guideline supports C")
    assert rc == 0 and "review #1" in out and "proposed" in out
    rc, _, err = _run(home, capsys, "confirm", "1", "--reviewer", "Dr Ada", "--role",
                      "radiologist", "--rationale", "self")
    assert rc == 2 and "different reviewer" in err
    rc, _, err = _run(home, capsys, "apply", SUITE_ID, "--actor", "it-admin")
    assert rc == 2 and "await a second reviewer" in err
    rc, out, _ = _run(home, capsys, "confirm", "1", "--reviewer", "Dr Ben", "--role",
                      "radiologist", "--rationale", "Agreed")
    assert rc == 0 and "confirmed" in out
    rc, out, _ = _run(home, capsys, "decide", SUITE_ID, "q3", "change_labels", "--label", "B=",
                      "--reviewer", "Dr Cy", "--role", "radiologist", "--rationale", "not high risk")
    assert rc == 0 and "confirmed" in out
    rc, out, _ = _run(home, capsys, "apply", SUITE_ID, "--actor", "it-admin")
    assert rc == 0 and "1.0.0 → 1.1.0" in out
    new = resolve_suite(workspace, SUITE_ID)
    assert new.version == "1.1.0" and new.item("q2").answer == "C"
    assert new.item("q3").option_labels == {}

    rc, out, _ = _run(home, capsys, "impact", f"{SUITE_ID}@1.0.0", "--json", "--n-boot", "0")
    report = json.loads(out)["impact"]
    assert (report["old_version"], report["new_version"]) == ("1.0.0", "1.1.0")
    m2_clean = next(c for c in report["cells"]
                    if (c["model"], c["condition"]) == ("m2", "clean_evidence"))
    acc = next(s for s in m2_clean["shifts"] if s["metric"] == "accuracy")
    assert acc["old"]["value"] == pytest.approx(5 / 6) and acc["new"]["value"] == 1.0
    rc, out, _ = _run(home, capsys, "impact", f"{SUITE_ID}@1.0.0", f"{SUITE_ID}@1.1.0",
                      "--n-boot", "0")
    assert rc == 0 and "+16.7" in out and "q2: answer B → C" in out

    rc, out, _ = _run(home, capsys, "list", SUITE_ID)
    assert rc == 0 and "applied" in out and "Dr Ben" in out
    rc, out, _ = _run(home, capsys, "appendix", SUITE_ID)
    appendix = json.loads(out)["stewardship_appendix"]
    assert appendix["items_changed"] == ["q2", "q3"] and appendix["audit_log_intact"]
    rc, out, _ = _run(home, capsys, "verify-log")
    assert rc == 0 and "intact: 4 entries" in out


def test_bad_label_option_is_a_clean_error(home, capsys):
    rc, _, err = _run(home, capsys, "decide", SUITE_ID, "q3", "change_labels", "--label", "B",
                      "--reviewer", "Dr Cy", "--role", "radiologist", "--rationale", "x")
    assert rc == 2 and "LETTER=label" in err


def test_queue_explains_its_score_and_states_the_position_bias_rule(home, capsys):
    from engine.stewardship.position import DOMINANT_SHARE, KEY_MARGIN, MIN_ANSWERS
    from engine.stewardship.triage import CONTESTED_AT

    rc, out, _ = _run(home, capsys, "queue", SUITE_ID, "--audit-sample", "0")
    assert rc == 0
    flat = " ".join(out.split())
    assert ("score 1.00: models agree on another answer than the key (strength 1.00) adds "
            "1.00; confident answers against the key (strength 1.00) adds 0.00 — contested"
            in flat)
    assert "judges disagree on the answers (strength 0.33) adds 0.33" in flat
    assert "dominant position" in flat and "no model has a dominant position" in flat
    rc, out, _ = _run(home, capsys, "queue", "--help")
    flat = " ".join(out.split())
    assert rc == 0 and "dominant position" in flat
    for stated in (f"more than {DOMINANT_SHARE:.0%}", f"at least {KEY_MARGIN * 100:.0f} points",
                   f"from {MIN_ANSWERS} answers up", f"contested from {CONTESTED_AT:.2f}",
                   "conflict_evidence left out"):
        assert stated in flat, stated
